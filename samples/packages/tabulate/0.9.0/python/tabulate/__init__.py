"""Pretty-print tabular data (sample stand-in for the PyPI project)."""

__version__ = "0.9.0"


def tabulate(rows):
    widths = [max(len(str(c)) for c in col) for col in zip(*rows)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
