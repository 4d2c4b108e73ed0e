"""What names one variant everywhere: a rez family, a rez version and a variant index.

Convert writes it into the layout map, the index lists it through the wheel's name, the
planner picks it, the store keys extractions by it and restore puts it back in a repository;
each of them used to rebuild the same ``(name, version, index)`` tuple. ``index`` is None for
a package without variants (one wheel for the whole package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True, order=True)
class VariantId:
    name: str
    version: str  # "" for an unversioned package
    index: Optional[int] = None

    @property
    def package(self) -> str:
        """``name-version`` as rez prints a package (just ``name`` when unversioned)."""
        return f"{self.name}-{self.version}" if self.version else self.name

    def __str__(self) -> str:
        return self.package if self.index is None else f"{self.package}[{self.index}]"
