"""Batch image tool (built for Python 3.11)."""

BUILT_FOR = "3.11"
