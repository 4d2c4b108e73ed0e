"""A project's definitions in bulk: one compressed file beside its page, keyed by wheel sha256.

A cold resolve would otherwise read one definition per version (a PEP 658 file, or a HEAD and
a range read of the wheel's tail): a family of 30 versions cost 31 requests or more. Publish
and mirror sync therefore also keep, per project, one bundle of every version's definition,
and a reader takes a family in two requests (its page, its bundle, sent side by side when the
family was never read before), whatever its versions.

The format (``NAME``, gzip over UTF-8 JSON, version ``FORMAT``)::

    {"format": 1, "project": "<normalized name>", "definitions": {"<wheel sha256>": "<text>"}}

where a text is the wheel's embedded ``rez-package.py`` (as its METADATA carries it). A
publisher that found files of the project carrying none (plain wheels beside ours, allowed by
``--allow-foreign-name``) lists their sha256s under ``"without": [...]``, so the next publish does
not ask for them again (``without``); readers take only ``definitions``. Where it
lives, derived from the index URL (``url_for``): beside the project page on a static or local
index (``simple/<project>/rez-definitions.json.gz``); on Artifactory, deployed by a generic PUT
beside the repository's packages (``…/artifactory/<repo>/<project>/rez-definitions.json.gz``).
pypiserver and devpi take distribution uploads only: they hold no bundle, and the one request
that finds none is all a family pays before the per-file reads (only the first few families of
a process: an index that gave none is not asked for more, ``httpreader.NO_BUNDLES``).

The page stays the truth. A bundle is written read-modify-write (two publishers racing may drop
each other's new entries), so an entry is used only for a file whose sha256 the page lists, as a
hint read exactly like a PEP 658 file: parsed as data and checked (``rezdef.Definition.read``),
tied to the wheel's own definition when the payload is localized. Every value is
attacker-controlled: the bundle is capped compressed and uncompressed (``max-page-bytes``, so a
gzip bomb stops at the cap), each entry at ``max-dist-info-bytes``; anything unfit is no entry,
and its files are read one by one as before.
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Optional

from rezwheel import limits
from rezwheel.index.pages import is_sha256
from rezwheel.redaction import get_logger, redact

if TYPE_CHECKING:
    import requests

log = get_logger(__name__)

NAME = "rez-definitions.json.gz"
FORMAT = 1
_warned: set[str] = set()


def url_for(index_url: str, project: str) -> str:
    """Where a project's bundle lives, from the index URL (see the module docstring)."""
    from rezwheel.config import artifactory_storage

    base = index_url if index_url.endswith("/") else index_url + "/"
    storage = artifactory_storage(base)  # config decides what is Artifactory, and its storage
    if storage:
        return f"{storage}/{project}/{NAME}"
    return f"{base}{project}/{NAME}"


def download(session: "requests.Session", url: str) -> bytes:
    """The bundle's body at ``url`` (empty when the server has none), capped as a page is."""
    from rezwheel.index.http import RedirectRefused, deadline, read_body

    with deadline(url):
        try:
            r = session.get(url, stream=True)
        except RedirectRefused:  # sent elsewhere: none here
            return b""
        body = read_body(r, url, int(limits.get("max-page-bytes")), "definitions bundle",
                         "REZWHEEL_MAX_PAGE_BYTES") if r.status_code == 200 else b""
        r.close()
    return body


def encode(project: str, definitions: dict[str, str], without: "set[str] | frozenset" = frozenset()
           ) -> bytes:
    """The bundle's bytes (sorted, no timestamp: the same definitions give the same file);
    ``without``: the sha256s of files known to carry no definition (left out when none)."""
    import gzip

    doc: dict = {"format": FORMAT, "project": project,
                 "definitions": {k: definitions[k] for k in sorted(definitions)}}
    if without:
        doc["without"] = sorted(without)
    return gzip.compress(json.dumps(doc, ensure_ascii=False).encode(), mtime=0)


def without(body: Optional[bytes], project: str) -> set[str]:
    """The sha256s a bundle lists as carrying no definition (a publisher's note to the next
    one; an unfit bundle, or a hostile list, is no note: the files are asked again)."""
    if not body:
        return set()
    doc, why = _document(body)
    if why or not (isinstance(doc, dict) and doc.get("format") == FORMAT and
            doc.get("project") == project and isinstance(doc.get("without"), list)):
        return set()
    return {k.lower() for k in doc["without"] if isinstance(k, str) and is_sha256(k)}


def decode(body: Optional[bytes], project: str, where: str, within: Optional[str] = None
           ) -> dict[str, str]:
    """The entries of a bundle's bytes that are fit to use ({} for none, warned once): a
    compressed or (a server decoded it on the wire) plain JSON body, capped both ways.
    ``within``: the snapshot holding it, said once for all its unfit bundles (a hostile one
    may hold thousands)."""
    if not body:
        return {}
    doc, why = _document(body)
    if why:
        return _unfit(where, within, why)
    if isinstance(doc, dict) and doc.get("format") != FORMAT:
        return {}  # another format (a newer publisher's): per-file reads, nothing to say
    if not isinstance(doc, dict) or doc.get("project") != project or \
            not isinstance(doc.get("definitions"), dict):
        return _unfit(where, within, f"not a bundle of {project}")
    entry_cap = int(limits.get("max-dist-info-bytes"))
    return {k.lower(): v for k, v in doc["definitions"].items()
            if is_sha256(k) and isinstance(v, str) and v and len(v) <= entry_cap}


def _document(body: bytes) -> tuple[object, Optional[str]]:
    """(the JSON document of a bundle's bytes, None), or (None, why it is none): compressed,
    or plain JSON (a server decoded it on the wire), capped both ways."""
    cap = int(limits.get("max-page-bytes"))
    try:
        if body[:2] == b"\x1f\x8b":
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = inflate.decompress(body, cap + 1)
            if len(body) > cap or inflate.unconsumed_tail:
                return None, f"larger than the limit {cap} uncompressed (REZWHEEL_MAX_PAGE_BYTES)"
        elif len(body) > cap:
            return None, f"larger than the limit {cap} (REZWHEEL_MAX_PAGE_BYTES)"
        return json.loads(body), None
    except (zlib.error, ValueError, RecursionError, EOFError):
        return None, "not a gzip JSON bundle"


def merge(old: dict[str, str], new: dict[str, str], keep: Optional[set[str]] = None
          ) -> dict[str, str]:
    """``old`` updated with ``new``; with ``keep``, only the entries for those sha256s (the
    files the index still holds)."""
    merged = dict(old, **new)
    return merged if keep is None else {k: v for k, v in merged.items() if k in keep}


def _unfit(where: str, within: Optional[str], why: str) -> dict[str, str]:
    if (within or where) not in _warned:
        _warned.add(within or where)
        if within:
            log.warning("rezwheel: %s: unfit bundles inside (the first, %s: %s); reading their "
                        "definitions one by one", redact(within), redact(where), why)
        else:
            log.warning("rezwheel: %s: %s; reading its definitions one by one", redact(where),
                        why)
    return {}
