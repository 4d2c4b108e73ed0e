"""The local store's upkeep: the ``rezwheel cache`` flows.

``ls`` lists what the store holds (payloads, and roots extracted from payloads read in place),
``verify`` re-hashes every stored payload, ``prune`` removes artifacts by age, oldest first,
never one a process holds locked (the rez plugin localizing it, an install reading it). The
store (``resolve.store``) knows its layout; which artifacts go is decided here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from rezwheel.resolve.store import Store, StoreEntry


def ls(store: Store) -> list[StoreEntry]:
    return store.entries()


@dataclass(frozen=True)
class Verified:
    checked: int  # stored artifacts
    failed: list[str]  # one line per damaged payload

    @property
    def ok(self) -> int:
        return self.checked - len(self.failed)

    def as_json(self) -> dict:
        return {"verified": self.ok, "failed": self.failed}


def verify(store: Store) -> Verified:
    entries = store.entries()
    return Verified(len(entries), [why for e in entries if (why := store.damaged(e))])


@dataclass(frozen=True)
class Pruned:
    entry: StoreEntry
    removed: bool  # False: in use (a process holds its lock)

    @property
    def name(self) -> str:
        return self.entry.file or self.entry.sha256


@dataclass(frozen=True)
class PruneReport:
    tried: list[Pruned]  # the artifacts the policy chose, most recently used first
    total: int  # artifacts in the store before pruning

    @property
    def removed(self) -> int:
        return sum(p.removed for p in self.tried)

    @property
    def kept(self) -> int:
        return self.total - self.removed


def prune(store: Store, older_than: Optional[float] = None,
          keep_last: Optional[int] = None) -> PruneReport:
    """Remove stored artifacts: all of them, except the ``keep_last`` most recently used and
    those used within the last ``older_than`` days (either or both; neither: all go)."""
    store.sweep()  # what interrupted extractions left
    by_age = sorted(store.entries(), key=lambda e: e.used, reverse=True)
    keep = {e.sha256 for e in by_age[:keep_last]} if keep_last is not None else set()
    cutoff = time.time() - older_than * 86400 if older_than is not None else None
    tried = [Pruned(e, store.remove(e.sha256)) for e in reversed(by_age)  # oldest first
             if e.sha256 not in keep and (cutoff is None or e.used <= cutoff)]
    return PruneReport(tried, len(by_age))
