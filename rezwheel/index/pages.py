"""Parsing PEP 503 / PEP 691 simple index pages (pypiserver, devpi, Artifactory, warehouse).

``ACCEPT`` is the header pip sends (the index readers ask with it); whichever form comes
back is parsed. File links are resolved against the page URL with its trailing slash
(Artifactory's links are relative). Only the standard library parses HTML: this sits on the
rez plugin's path, where import time counts.

A page is attacker-controlled input, so every value is checked here, where it enters, before it
reaches a path, a credential or a parser: a file name must be a plain wheel or sdist basename
(the same name the URL ends with), a sha256 64 hex digits, a URL one the index allows (``allow``:
its own origin, or a configured files host; a local index's own directory). A link that fails
is skipped with one warning naming the page; a page that is not a page at all, or lists more
files than ``limits.max-page-links``, is refused with one line.
"""

from __future__ import annotations

import functools
import html
import html.parser
import json
import re
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from rezwheel import limits
from rezwheel.errors import RezwheelError
from rezwheel.redaction import get_logger, redact

log = get_logger(__name__)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SDIST = (".tar.gz", ".zip")
_UNPLAIN = re.compile(r"[\x00-\x1f/\\]")  # a separator or a control character

ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
          "text/html; q=0.01")


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: Optional[str]
    metadata: Optional[str]  # "sha256=<hex>" or "true" when a PEP 658 file is advertised
    requires_python: Optional[str] = None
    upload_time: Optional[float] = None  # epoch seconds (PEP 700 JSON, or a local file's mtime)
    #: PEP 592: None when the file is not yanked, else the reason ("" when none is given)
    yanked: Optional[str] = None


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[dict, str]] = []
        self._attrs: Optional[dict] = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self._attrs, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._attrs is not None:
            self.links.append((self._attrs, "".join(self._text).strip()))
            self._attrs = None


class BadPage(RezwheelError):
    """An index page that cannot be read as one (or lists more than the limit allows)."""


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def filename_problem(name: object) -> Optional[str]:
    """Why ``name`` is not a plain wheel or sdist file name, or None when it is one."""
    if not isinstance(name, str) or not name or len(name) > 255:
        return "not a file name"
    return _name_problem(name)


@functools.lru_cache(maxsize=16384)
def _name_problem(name: str) -> Optional[str]:
    """``filename_problem`` of a string, once per process: a file name is read on its page,
    in the hints, and again on every later read of the page."""
    from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename,
                                 parse_sdist_filename, parse_wheel_filename)

    if name.startswith(".") or _UNPLAIN.search(name):
        return "not a plain file name"
    try:
        if name.endswith(".whl"):
            parse_wheel_filename(name)
        elif name.endswith(_SDIST):
            parse_sdist_filename(name)
        else:
            return "neither a wheel nor an sdist"
    except (InvalidWheelFilename, InvalidSdistFilename) as e:
        return str(e)
    return None


def dist_of(name: str) -> Optional[tuple[str, object]]:
    """(normalized project, PEP 440 version) of a wheel or sdist file name; None for a name
    that is neither (``filename_problem`` says why)."""
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    if filename_problem(name):
        return None
    parsed = parse_wheel_filename(name)[:2] if name.endswith(".whl") else \
        parse_sdist_filename(name)
    return str(parsed[0]), parsed[1]


_warned: set = set()
SAID_PER_PAGE = 5  # bad links named one by one on a page; the rest are counted on one line
_said: dict[str, int] = {}
_unsaid: dict[str, int] = {}


def _skip(page_url: str, value: object, why: str) -> None:
    """One warning per bad value and page in a process (pages are read more than once), for
    the first ``SAID_PER_PAGE`` of a page: a hostile page may list thousands."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(value)[:100])
    key = (page_url, shown, why)
    if key in _warned:
        return
    _warned.add(key)
    if _said.get(page_url, 0) >= SAID_PER_PAGE:
        _unsaid[page_url] = _unsaid.get(page_url, 0) + 1
        return
    _said[page_url] = _said.get(page_url, 0) + 1
    log.warning("rezwheel: %s: skipping '%s': %s", redact(page_url), shown, why)


def _say_unsaid(page_url: str) -> None:
    """The bad links of a page past the first few, on one line."""
    n = _unsaid.pop(page_url, 0)
    if n:
        log.warning("rezwheel: %s: skipping %d more unfit links", redact(page_url), n)


def _file_from(page_url: str, allow: Callable[[str], bool], url: object, filename: object,
               hashes: object, metadata: object, requires_python: object,
               upload_time: object = None, yanked: object = None) -> Optional[IndexFile]:
    """A checked IndexFile, or None (with a warning) when any value is unfit."""
    problem = filename_problem(filename)
    if problem:
        _skip(page_url, filename, problem)
        return None
    if isinstance(url, str) and not url.isprintable():  # ESC, CR/LF, bidi overrides: echoed
        _skip(page_url, url, "URL with control characters")  # in messages, they would forge
        return None                                          # lines or drive the terminal
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() not in ("http", "https", "file") \
            or not allow(url):  # type: ignore[arg-type]
        _skip(page_url, url, "URL outside the index (not its origin or a configured files host)")
        return None
    if unquote(parts.path.rsplit("/", 1)[-1]) != filename:
        _skip(page_url, filename, "the link's URL names another file")
        return None
    if hashes is not None and not isinstance(hashes, dict):
        _skip(page_url, filename, "hashes is not a table")
        return None
    sha = hashes.get("sha256") if hashes else None
    if sha is not None and not is_sha256(sha):
        _skip(page_url, filename, "sha256 is not 64 hex digits")
        return None
    meta: Optional[str] = None
    if isinstance(metadata, dict):
        msha = metadata.get("sha256")
        meta = f"sha256={msha.lower()}" if is_sha256(msha) else "true"  # type: ignore[union-attr]
    elif isinstance(metadata, str) and metadata:
        key, _, value = metadata.partition("=")
        meta = f"sha256={value.lower()}" if key == "sha256" and is_sha256(value) else "true"
    elif metadata is True:
        meta = "true"
    when = _upload_time(upload_time)
    rp = requires_python if isinstance(requires_python, str) and len(requires_python) < 200 \
        else None
    return IndexFile(filename, url, sha.lower() if sha else None, meta, rp, when,  # type: ignore[union-attr]
                     yanked_reason(yanked))


#: the longest yanked reason kept: it is echoed in one-line warnings and written into pages
YANKED_REASON_MAX = 200


def yanked_reason(value: object) -> Optional[str]:
    """PEP 592 as pip reads it: a false value (absent, false, null, "", 0, [], {}) is not
    yanked; a string is the reason; any other true value (true, 5, a list, a table) is yanked
    with no reason. The reason is an index's text echoed in warnings and written back into a
    mirror's pages: control characters (ESC, CR/LF, bidi overrides) become spaces, runs of
    spaces one, and it is capped at ``YANKED_REASON_MAX`` characters."""
    if not value:
        return None
    if not isinstance(value, str):
        return ""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in value[:4 * YANKED_REASON_MAX]
                               ).split())
    if len(cleaned) > YANKED_REASON_MAX:
        cleaned = cleaned[:YANKED_REASON_MAX - 3] + "..."
    return cleaned


#: the last second a UTC date-time can name (9999-12-31T23:59:59Z)
_LAST_SECOND = 253402300799


def _upload_time(value: object) -> Optional[float]:
    """PEP 700 ``upload-time`` as epoch seconds, or None: not a date, or one outside
    1970..9999 in UTC (an offset can push 0001-01-01 or 9999-12-31 past what a date holds,
    and the lock writes the time back as a date)."""
    if not isinstance(value, str) or len(value) >= 64:
        return None
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        when = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return when if 0 <= when <= _LAST_SECOND else None


def parse_project_page(body: bytes, content_type: str, page_url: str,
                       allow: Callable[[str], bool]) -> list[IndexFile]:
    """The checked files a project page lists; ``allow(url)``: whether a file URL is the
    index's to serve."""
    base = page_url if page_url.endswith("/") else page_url + "/"
    cap = int(limits.get("max-page-links"))
    if "json" in content_type:
        items = _json_list(body, page_url, "files", "project page")
        _check_count(len(items), cap, page_url)
        found = []
        for f in items:
            if not isinstance(f, dict) or not isinstance(f.get("url"), str):
                _skip(page_url, f, "not a file entry")
                continue
            found.append(_file_from(
                page_url, allow, urljoin(base, f["url"]), f.get("filename"), f.get("hashes"),
                f.get("core-metadata", f.get("dist-info-metadata")), f.get("requires-python"),
                f.get("upload-time"), f.get("yanked")))
        _say_unsaid(page_url)
        return [f for f in found if f is not None]
    text = body.decode("utf-8", "replace")
    links = _written_links(text)
    if links is None:
        parser = _Links()
        parser.feed(text)
        links = parser.links
    _check_count(len(links), cap, page_url)
    files = []
    for attrs, text in links:
        href = attrs.get("href")
        if not href:
            continue
        url, frag = urldefrag(urljoin(base, href))
        key, _, value = frag.partition("=")
        hashes = {key: value} if value else {}
        filename = text or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        meta = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
        # PEP 592: the attribute's presence yanks, its value (maybe empty) is the reason
        yanked = (attrs["data-yanked"] or True) if "data-yanked" in attrs else None
        f = _file_from(page_url, allow, url, filename, hashes, meta,
                       attrs.get("data-requires-python"), None, yanked)
        if f is not None:
            files.append(f)
    _say_unsaid(page_url)
    return files


#: a project page exactly as ``index.local`` writes it (no character reference anywhere but in
#: Requires-Python), read without the HTML parser: a cold resolve reads one per family
_WRITTEN = re.compile(r'<!DOCTYPE html>\n<html>\n  <head>\n(?:    <meta [^<>\n]*>\n)*'
                      r'    <title>[^<>&\n]*</title>\n  </head>\n  <body>\n    <h1>[^<>&\n]*</h1>\n'
                      r'((?:    <a [^\n]*\n)*)\n?  </body>\n</html>\n?')
_WRITTEN_LINK = re.compile(r'    <a href="([^"<>&\n]*)"(?: data-dist-info-metadata="([^"<>&\n]*)"'
                           r' data-core-metadata="([^"<>&\n]*)")?(?: data-requires-python='
                           r'"([^"<>\n]*)")?(?: data-yanked="([^"<>\n]*)")?>([^<>&\n]*)</a><br/>\n')


def written_link(href: str, name: str, metadata_sha: Optional[str] = None,
                 requires_python: Optional[str] = None, yanked: Optional[str] = None) -> str:
    """One link of a project page as rezwheel writes it (``written_page``); ``yanked``: the
    PEP 592 reason ("" for none) of a yanked file."""
    attrs = ""
    if metadata_sha:
        attrs += (f' data-dist-info-metadata="sha256={metadata_sha}"'
                  f' data-core-metadata="sha256={metadata_sha}"')
        if requires_python:
            attrs += f' data-requires-python="{html.escape(requires_python)}"'
    if yanked is not None:
        attrs += f' data-yanked="{html.escape(yanked)}"'
    return f'    <a href="{html.escape(href)}"{attrs}>{html.escape(name)}</a><br/>'


def written_page(project: str, links: list[str]) -> bytes:
    """A project page as rezwheel writes it (a local index's, a snapshot's): read back by two
    strict regexes (``_written_links``) rather than the HTML parser."""
    body = "\n".join(links)
    return (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" "
            f"content=\"1.1\">\n    <title>Links for {project}</title>\n  </head>\n  <body>\n"
            f"    <h1>Links for {project}</h1>\n{body}\n  </body>\n</html>\n").encode()


def _written_links(text: str) -> Optional[list[tuple[dict, str]]]:
    """The links of a page written by ``index.local``, as ``_Links`` gives them (attributes
    unescaped, text stripped); None for any other page, which the HTML parser reads."""
    page = _WRITTEN.fullmatch(text)
    if page is None:
        return None
    block, pos, links = page.group(1), 0, []
    for m in _WRITTEN_LINK.finditer(block):
        if m.start() != pos:
            return None
        pos = m.end()
        attrs = {"href": m[1]}
        if m[2] is not None:
            attrs["data-dist-info-metadata"], attrs["data-core-metadata"] = m[2], m[3]
        if m[4] is not None:
            attrs["data-requires-python"] = html.unescape(m[4])
        if m[5] is not None:
            attrs["data-yanked"] = html.unescape(m[5])
        links.append((attrs, m[6].strip()))
    return links if pos == len(block) else None


def _json_list(body: bytes, page_url: str, key: str, what: str) -> list:
    """The ``key`` list of a PEP 691 page, or one line saying the page is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise BadPage(f"{redact(page_url)}: not a valid PEP 691 JSON page") from None
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise BadPage(f"{redact(page_url)}: not a PEP 691 {what} (no {key} list)")
    return items


def _check_count(n: int, cap: int, page_url: str) -> None:
    if n > cap:
        raise BadPage(f"{redact(page_url)}: lists {n} files, more than the limit {cap} "
                      "(REZWHEEL_MAX_PAGE_LINKS)")


def parse_root_page(body: bytes, content_type: str, page_url: str = "") -> set[str]:
    """Project names (normalized); names that are not valid project names are left out."""
    if "json" in content_type:
        items = _json_list(body, page_url, "projects", "index page")
        names = [p.get("name") for p in items if isinstance(p, dict)]
    else:
        text = body.decode("utf-8", "replace")
        names = _root_names(text)
        if names is None:
            parser = _Links()
            parser.feed(text)
            names = [text for _, text in parser.links]
    return {n for n in map(project_name, names) if n}


#: a root page's anchors when each is plain (``<a href="x/">x</a>``, as every index writes
#: them): read by one regex, 30x faster than the HTML parser on a root listing 10^6 projects
#: (12 s before ``rez search`` could say there are too many to list)
_ROOT_ANCHOR = re.compile(r"<a(?:\s[^<>]*)?>([^<>]*)</a\s*>", re.IGNORECASE)
_ROOT_OPEN = re.compile(r"<a[\s>]", re.IGNORECASE)
_ROOT_RAW = re.compile(r"<!--|<!\[CDATA\[|<script|<style|<textarea|<title", re.IGNORECASE)


def _root_names(text: str) -> Optional[list[str]]:
    """The link texts of a root page whose anchors are all plain, as ``_Links`` reads them;
    None when any is not (nested tags, comments, raw text), for the HTML parser to read."""
    if _ROOT_RAW.search(text):
        return None
    found = _ROOT_ANCHOR.findall(text)
    if len(found) != len(_ROOT_OPEN.findall(text)):
        return None
    return [html.unescape(t).strip() for t in found]


_NORMALIZED = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def project_name(name: object) -> Optional[str]:
    """The normalized PEP 503 name, or None for something that is not a project name."""
    if not isinstance(name, str) or not name or len(name) > 200:
        return None
    if _NORMALIZED.fullmatch(name):  # already normal (most roots list names so)
        return name
    from packaging.utils import InvalidName, canonicalize_name

    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        return None
