"""Parsing PEP 503 / PEP 691 simple index pages (pypiserver, devpi, Artifactory, warehouse).

``ACCEPT`` is the header pip sends (``index.source`` reads the pages); whichever form comes
back is parsed. File links are resolved against the page URL with its trailing slash
(Artifactory's links are relative). Only the standard library parses HTML: this sits on the
rez plugin's path, where import time counts.
"""

from __future__ import annotations

import html.parser
import json
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urldefrag, urljoin

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


def _file_from(url: str, filename: str, hashes: dict, metadata: object,
               requires_python: Optional[str], upload_time: Optional[str] = None) -> IndexFile:
    meta: Optional[str] = None
    if isinstance(metadata, dict):
        meta = f"sha256={metadata['sha256']}" if "sha256" in metadata else "true"
    elif metadata:
        meta = metadata if isinstance(metadata, str) else "true"
    when = None
    if upload_time:
        from datetime import datetime
        try:
            when = datetime.fromisoformat(upload_time.replace("Z", "+00:00")).timestamp()
        except ValueError:
            when = None
    return IndexFile(filename, url, hashes.get("sha256"), meta, requires_python, when)


def parse_project_page(body: bytes, content_type: str, page_url: str) -> list[IndexFile]:
    base = page_url if page_url.endswith("/") else page_url + "/"
    if "json" in content_type:
        doc = json.loads(body)
        return [_file_from(urljoin(base, f["url"]), f["filename"], f.get("hashes") or {},
                           f.get("core-metadata", f.get("dist-info-metadata")),
                           f.get("requires-python"), f.get("upload-time"))
                for f in doc.get("files", [])]
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    files = []
    for attrs, text in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, frag = urldefrag(urljoin(base, href))
        hashes = dict([frag.split("=", 1)]) if "=" in frag else {}
        filename = text or url.rsplit("/", 1)[-1]
        meta = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
        files.append(_file_from(url, filename, hashes, meta, attrs.get("data-requires-python")))
    return files


def parse_root_page(body: bytes, content_type: str) -> set[str]:
    from packaging.utils import canonicalize_name

    if "json" in content_type:
        return {canonicalize_name(p["name"]) for p in json.loads(body).get("projects", [])}
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    return {canonicalize_name(text) for _, text in parser.links if text}
