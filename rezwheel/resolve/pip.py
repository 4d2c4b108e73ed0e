"""pip, run as a bounded subprocess against the given indexes only: what it would install
(``pip install --dry-run --report``, so pip's resolver, markers and Requires-Python apply) and
the wheels it builds from sdists (``resolve.sdist``).

Its environment names only the indexes given (never a pip config's, nor credentials on its
command line), a run is bounded in time, a failure is one line with pip's own reason, and
every value of its report is checked before use: it comes from an index. Turning a pick into
a rez package is ``rezrepo.rezpip``'s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from rezwheel import limits
from rezwheel.errors import InstallError, RezwheelError
from rezwheel.rezrepo.rezpip import Target, check_filename, check_project

_PIP_INDEX_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")

#: pip run with another host's marker values (``Target.platform``): pip evaluates markers for
#: the host it runs on, whatever ``--platform`` says, so its own packaging is told otherwise
_PIP_FOR = ("import json, os, sys; from pip._vendor.packaging import markers as m; "
            "d = m.default_environment; e = json.loads(os.environ.pop('REZWHEEL_PIP_MARKERS')); "
            "m.default_environment = lambda: dict(d(), **e); "
            "from pip._internal.cli.main import main; sys.argv[0] = 'pip'; sys.exit(main())")


@dataclass(frozen=True)
class Pick:
    """One distribution pip chose: where to get it and what its metadata says."""
    name: str
    version: str
    filename: str  # a wheel, or an sdist (``is_sdist``) that ``sdist.build`` turns into one
    url: str
    sha256: Optional[str]
    metadata: dict  # PEP 566 JSON form of the core metadata
    extras: tuple[str, ...] = ()  # the extras asked of it (pip's ``requested_extras``)
    sdist: Optional[tuple[str, str]] = None  # built from (file name, sha256): ``local`` holds it
    local: Optional[str] = None  # the wheel already on this host (a build)

    @property
    def is_sdist(self) -> bool:
        return not self.filename.endswith(".whl")


def pip_env(index_urls: list[str]) -> dict[str, str]:
    """pip's environment: only the indexes given. A pip config or PIP_* index settings could
    add public PyPI, and with it dependency confusion (certificates and proxies stay).
    ``index_urls`` may carry credentials: they reach pip here, never on its command line
    (which ``ps`` shows everyone); pip redacts them from what it prints and reports."""
    env = {k: v for k, v in os.environ.items() if k not in _PIP_INDEX_ENV}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index_urls[0],
               PIP_EXTRA_INDEX_URL=" ".join(index_urls[1:]), PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run_pip(args: list[str], index_urls: list[str], what: str,
            markers: Optional[dict[str, str]] = None) -> "subprocess.CompletedProcess":
    """``python -m pip ARGS`` bounded in time (pip's own timeout is per socket read: a server
    dripping bytes would hold it forever); a failure is one line with pip's reason.
    ``markers``: the PEP 508 values pip evaluates markers with (another host's)."""
    pip = ["-c", _PIP_FOR] if markers else ["-m", "pip"]
    cmd = [sys.executable, *pip, *args[:1], "--timeout", str(limits.get("http-deadline")),
           "--retries", "2", *args[1:]]
    env = pip_env(index_urls)
    if markers:
        env["REZWHEEL_PIP_MARKERS"] = json.dumps(markers)
    budget = float(limits.get("pip-timeout"))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=budget)
    except subprocess.TimeoutExpired:
        raise RezwheelError(f"pip could not {what} within {budget:g} s (REZWHEEL_PIP_TIMEOUT)") \
            from None
    if r.returncode:
        raise RezwheelError(f"pip could not {what}: {pip_reason(r.stderr, r.returncode)}")
    return r


def pip_reason(stderr: str, status: int) -> str:
    """pip's own words, on one line: its ERROR lines, else the last line it printed."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln[len("ERROR:"):].strip() for ln in lines if ln.startswith("ERROR:")]
    said = "; ".join(dict.fromkeys(errors)) or (lines[-1] if lines else f"exit status {status}")
    # a build backend's own output sits between "╰─> [N lines of output]" and "[end of
    # output]": its last line is usually the reason (a missing compiler or library)
    build, inside = "", False
    for ln in lines:
        if re.search(r"\[\d+ lines? of output\]\s*$", ln):
            inside = True
        elif ln == "[end of output]":
            inside = False
        elif inside:
            build = ln
    if build:
        said = f"{said} ({build})"
    return " ".join(said.split())[:500]


def pip_resolve(requirements: list[str], index_urls: list[str], target: Target,
                no_deps: bool = False, constraints: Optional[list[str]] = None,
                only_binary: bool = False) -> list[Pick]:
    """What ``pip install`` would install for ``requirements`` on ``target``, without installing.

    sdists take part unless ``only_binary`` (pip builds their metadata, isolated, as it does
    for ``pip install``); ``constraints`` are PEP 508 lines of a constraints file.
    """
    if not requirements:
        return []
    with tempfile.TemporaryDirectory(prefix="rezwheel-pip-") as tmp:
        report = os.path.join(tmp, "report.json")
        # pip builds an sdist with the interpreter it runs on, so it takes sdists only for
        # this python; for another one (--python) it resolves wheels only, as it must
        foreign = target.short != "%d.%d" % sys.version_info[:2] or bool(target.platform)
        args = ["install", "--dry-run", "--report", report, "--quiet", "--ignore-installed",
                *(["--python-version", target.python] if foreign or target.python.count(".") > 1
                  else []), *(["--no-deps"] if no_deps else []),
                *[a for p in target.pip_platforms() for a in ("--platform", p)],
                *(["--only-binary=:all:"] if only_binary or foreign else [])]
        if constraints:
            with open(os.path.join(tmp, "constraints.txt"), "w", encoding="utf-8") as fh:
                fh.write("".join(c + "\n" for c in constraints))
            args += ["-c", fh.name]
        from rezwheel.redaction import redact

        what = f"resolve {', '.join(requirements)} from {', '.join(map(redact, index_urls))}"
        try:
            run_pip([*args, "--", *requirements], index_urls, what,
                    markers=target.markers() if target.platform else None)
        except RezwheelError as e:
            if "No matching distribution" in str(e) and (only_binary or foreign):
                why = "--only-binary" if only_binary else \
                    f"{target.platform} is not this host" if target.platform else \
                    f"python {target.short} is not the python rezwheel runs on"
                raise RezwheelError(f"{e} (sdists are not built: {why})") from None
            raise
        with open(report, encoding="utf-8") as fh:
            doc = json.load(fh)
    try:
        return [_pick(item) for item in doc.get("install", [])]
    except (KeyError, TypeError, AttributeError):
        raise RezwheelError(f"pip could not {what}: unreadable installation report") from None


def _pick(item: dict) -> Pick:
    """One entry of pip's report, checked: its values come from an index."""
    info = item["download_info"]
    hashes = (info.get("archive_info") or {}).get("hashes") or {}
    url, meta = info["url"], item["metadata"]
    sha256 = hashes.get("sha256")
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    check_filename(filename, f"pip's pick {url}", sdist=True)
    if sha256 is not None and not (isinstance(sha256, str) and
                                   re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
        raise InstallError(f"{filename}: bad sha256 in pip's report: {sha256!r}")
    name, version = check_project(meta, filename)
    extras = item.get("requested_extras") or []
    if not isinstance(extras, list) or not all(isinstance(x, str) and re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9._-]*", x) for x in extras):
        raise InstallError(f"{filename}: bad extras in pip's report: {extras!r}")
    return Pick(name, version, filename, url, sha256.lower() if sha256 else None, meta,
                tuple(sorted({canonicalize_name(x) for x in extras})))
