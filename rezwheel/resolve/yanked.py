"""PEP 592 for the library's own solves (install, lock, export, mirror sync): the one line
said when a yanked version is chosen (which requests pin one: ``wanted.rez_pin``, ``pep_pin``).

The rule is pip's and uv's: a yanked version is chosen only when a request pins it exactly,
and then with a warning giving the index's reason. A request pins a version when it names it
in full: rez's ``fam==1.0.2`` and ``fam-1.0.2`` (which rez also lets 1.0.2.x match: those
were not yanked with it, and win anyway), PEP 508 ``fam==1.0.2`` (not ``==1.0.*``). rez's own
``rez env`` hands the plugin no request, so there a yanked version is never offered
(``resolve.packages.IndexRepository.offered``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from rezwheel.redaction import get_logger, redact

if TYPE_CHECKING:
    from rezwheel.resolve.packages import IndexRepository

log = get_logger(__name__)

def say_chosen(variants: Iterable[Any], bound: "dict[str, IndexRepository]",
               said: set[tuple[str, str]]) -> None:
    """One line per yanked package among the variants rez chose (only a pin lets one in), as
    pip warns when it installs a yanked file; ``bound``: package path -> index repository."""
    for v in variants:
        index = bound.get(str(v.repository))  # rez names a repository type@location
        found = index.versions(v.name).get(str(v.version)) if index is not None else None
        key = (v.name, str(v.version))
        if found is None or found.yanked is None or key in said:
            continue
        said.add(key)
        log.warning("rezwheel: %s-%s is yanked on %s%s; chosen because the request pins that "
                    "version", v.name, v.version, redact(index.location),  # type: ignore[union-attr]
                    f" (reason: {found.yanked})" if found.yanked else "")


def forget_offered(bound: "dict[str, IndexRepository]", pins: set[tuple[str, str]]) -> None:
    """Make rez ask again which versions the repositories offer when a new pin names a yanked
    version: a planner that solved before (a mirror plans the variants other hosts choose)
    would otherwise be answered from rez's caches, without it. ``bound``: package path ->
    index repository."""
    if not any(v is not None and v.yanked is not None for r in bound.values()
               for name, version in pins for v in [r.versions(name).get(version)]):
        return
    from rez.package_repository import package_repository_manager as manager

    for path in bound:
        repository = manager.repositories.get(path)
        if repository is not None:
            repository.clear_caches()
