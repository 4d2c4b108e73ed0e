"""What names one variant everywhere: a rez family, a rez version and a variant index.

Convert writes it into the layout map (``Layout.id``), the planner's steps carry it, the
plugin's variants and ``IndexRepository.file_for_variant`` look files up by it, and restore
checks a wheel against the one the plan expected; each of them used to rebuild the same
``(name, version, index)`` tuple. (The store keys payloads by sha256, not by identity.) ``index`` is None for
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
