"""rezwheel: ship rez package variants as wheels through any PyPI-style index."""

__version__ = "0.1.0"
