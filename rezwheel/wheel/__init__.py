"""Writing and reading the artifact format (DESIGN.md section 2)."""
