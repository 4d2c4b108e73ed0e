"""Index writers: what ``publish`` puts files through, whatever the target.

One protocol, two implementations: the local directory index (``index.local.LocalIndex``)
and the upload client for servers (``index.upload.Uploader``). The publish flow asks both the
same questions in the same order (which projects exist, what a project holds, is that file a
rezwheel one, put this one, finish: pages and the definitions bundles), so every target gets
the same checks: a new kind of target is a new writer, never an ``if`` in the flow.

``Result`` is the one shape of "what became of a file" for every command that puts files on an
index: publish (``uploaded``, ``skipped``, ``failed``, ``would-upload``) and mirror sync
(``copied``, ``present``, ``failed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ContextManager, Optional, Protocol

from rezwheel.index.pages import IndexFile

if TYPE_CHECKING:
    from rezwheel.artifact.reuse import Reuse

#: how a publish's staging directory starts (``.rezwheel-publish-<pid>-``): inside a local
#: index, a killed publish's is found and removed by the next one
STAGING = ".rezwheel-publish-"


@dataclass
class Result:
    """What became of one file; ``as_json`` is the CLI's ``--json`` record."""

    file: str
    sha256: Optional[str]
    status: str
    error: Optional[str] = None
    #: a failure that is not this file's own (credentials, the server): the same for a batch
    reason: Optional[str] = field(default=None, compare=False)
    #: False when the file was never sent: its batch had stopped on ``reason`` (as twine
    #: does), so the CLI says how many were left untried rather than one line each
    tried: bool = field(default=True, compare=False)

    def as_json(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "status": self.status,
                "error": self.error}


@dataclass
class Wheel:
    """A wheel file on its way to an index: its name's parts and sha256, read once."""

    path: str
    name: str
    project: str
    version: str
    sha256: str
    size: int
    #: made for this publish (in ``Staging.dir``): the index may take it by renaming
    made: bool = False
    result: Optional[Result] = None
    _metadata: Optional[str] = field(default=None, repr=False)

    def metadata(self) -> str:
        """The wheel's METADATA text, read once (the upload form and the publish-time warning
        both need it)."""
        if self._metadata is None:
            from rezwheel.artifact.metadata import read_metadata

            self._metadata = read_metadata(self.path)
        return self._metadata


def different_file(name: str, sha256: str, where: str, have: Optional[str]) -> Result:
    """The refusal when ``where`` holds another file (sha256 ``have``) under the name of the
    one coming in (``sha256``): never overwritten (publish, upload and mirror sync alike)."""
    return Result(name, sha256, "failed",
                  f"{name}: {where} already holds a different file under this name "
                  f"(index sha256 {have or 'unknown'}, new sha256 {sha256})")


@dataclass
class Staging:
    """Where a publish converts rez packages for one index, and what the index takes from it."""

    dir: str
    #: leave each wheel's PEP 658 ``.metadata`` beside it (the index renames both in)
    sidecars: bool = False
    #: packages converted before whose wheels the index still holds (not converted again)
    reuse: Optional["Reuse"] = None


class IndexWriter(Protocol):
    """A publish target. Used as ``with writer:`` around one batch (a local index holds its
    lock from the first read to the last page written); ``existing`` and ``upload`` are
    called from several threads at once."""

    #: how messages name the index ("the index DIR")
    where: str

    def __enter__(self) -> "IndexWriter": ...

    def __exit__(self, *exc: object) -> None: ...

    def staging(self, prefix: str, dry_run: bool, cache_root: str = "") -> ContextManager[Staging]:
        """Where to convert rez packages for this batch (removed on the way out); ``cache_root``:
        where a writer that reuses earlier conversions keeps its record (the store)."""
        ...

    def projects(self) -> Optional[set[str]]:
        """Every project the index holds, if one read can tell (else None: ask ``existing``)."""
        ...

    def existing(self, project: str) -> dict[str, IndexFile]:
        """The project's files by file name (empty when the project is new)."""
        ...

    def is_rezwheel_file(self, f: IndexFile) -> bool:
        """Whether a file the index holds carries a rez definition (the owner check)."""
        ...

    def upload(self, w: Wheel) -> Result:
        """Put one decided file: ``uploaded``, ``skipped`` (it turned out to be there) or
        ``failed``."""
        ...

    def finish(self, uploaded: list[Wheel]) -> None:
        """After the batch: pages and definitions bundles written (local; ``index.bundle``),
        bundles deployed (Artifactory), or waiting until the index lists the files (a server,
        when asked to wait); a file still unlisted gets its ``result.error``."""
        ...
