"""Batch image tool (built for Python 3.9)."""

BUILT_FOR = "3.9"
