"""Path and string helpers shared by pipeline tools."""

__version__ = "1.2.0"


def slug(text):
    return "-".join(text.lower().split())
