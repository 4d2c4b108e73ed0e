"""Indexes rezwheel publishes to and reads from (DESIGN.md section 4)."""
