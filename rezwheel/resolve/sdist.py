"""sdists pip picked, built into wheels the way ``rez pip`` gets them: by ``pip wheel``, in an
isolated build environment whose build requirements come from the same indexes.

Building runs the project's own build code (as ``pip install`` would): it happens when
installing, never while rez resolves. The sdist is checked against
the sha256 the index lists before it is built, and the built wheel is kept in the store under
the sdist's sha256, so a re-run builds nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from rezwheel.atomic import atomic_dir
from rezwheel.errors import InstallError, RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.index.pages import IndexFile
from rezwheel.index.readers import IndexReader
from rezwheel.redaction import redact
from rezwheel.resolve.pip import Pick, run_pip
from rezwheel.rezrepo.rezpip import check_filename, wheel_metadata
from rezwheel.resolve.store import Store, check_sha256


def build(pick: Pick, reader: IndexReader, index_urls: list[str], store: Store) -> Pick:
    """``pick`` (an sdist) as the wheel built from it: same project and version, the wheel's
    own metadata, and ``sdist`` recording what it was built from."""
    if not pick.sha256:
        raise InstallError(f"{pick.filename}: the index gives no sha256 to verify it against")
    built = _built(store, pick.sha256) or _build(pick, reader, index_urls, store)
    meta = wheel_metadata(built)
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    if canonicalize_name(str(meta.get("name"))) != canonicalize_name(pick.name) or \
            Version(str(meta.get("version"))) != Version(pick.version):
        raise InstallError(f"{pick.filename}: built {os.path.basename(built)}, not "
                           f"{pick.name} {pick.version}; refused")
    return replace(pick, filename=os.path.basename(built), url="file://" + built,
                   sha256=sha256_file(built), metadata=meta,
                   sdist=(pick.filename, pick.sha256), local=built)


def _dir(store: Store, sdist_sha: str) -> str:
    """Where the wheel built from an sdist is kept: per sdist and per interpreter, since a
    build for one python (a C extension's cp310 tag) does not serve another."""
    return os.path.join(store.root, "built", check_sha256(sdist_sha), sys.implementation.cache_tag)


def _built(store: Store, sdist_sha: str) -> str | None:
    directory = _dir(store, sdist_sha)
    try:
        wheels = [n for n in os.listdir(directory) if n.endswith(".whl")]
    except OSError:
        return None
    return os.path.join(directory, wheels[0]) if len(wheels) == 1 else None


def _build(pick: Pick, reader: IndexReader, index_urls: list[str], store: Store) -> str:
    sha = pick.sha256 or ""
    f = IndexFile(pick.filename, pick.url, sha, None)
    local = reader.local_path(f)
    if local and sha256_file(local) == sha:
        path = local
    else:
        path = store.fetch_wheel(sha, pick.filename, lambda dest: reader.fetch(f, dest))
    final = _dir(store, sha)
    with atomic_dir(final) as out:  # another process building it meanwhile: theirs stays
        try:
            run_pip(["wheel", "--no-deps", "--quiet", "--wheel-dir", out, path], index_urls,
                    f"build {pick.filename} (from {redact(pick.url)})")
        except RezwheelError as e:
            raise InstallError(str(e)) from None
        wheels = os.listdir(out) if os.path.isdir(out) else []
        if len(wheels) != 1 or not wheels[0].endswith(".whl"):
            raise InstallError(f"{pick.filename}: pip built {wheels or 'nothing'}, not one wheel")
        check_filename(wheels[0], pick.filename)
    return os.path.join(final, os.listdir(final)[0])


#: what pip builds an sdist with when its pyproject.toml names no build system (PEP 517)
LEGACY_BUILD = ["setuptools>=40.8.0", "wheel"]


def build_requires(path: str) -> list[str]:
    """The build requirements an sdist declares (``[build-system] requires`` of its
    ``pyproject.toml``), read as data from the archive, never by running it: a mirror copies
    them beside the sdist, so hosts can build it from the mirror alone."""
    import tarfile
    import zipfile

    from rezwheel.limits import get

    cap = int(get("max-dist-info-bytes"))
    text = None
    try:
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.count("/") == 1 and
                         n.endswith("/pyproject.toml")]
                if names and z.getinfo(names[0]).file_size <= cap:
                    text = z.read(names[0])
        else:
            with tarfile.open(path) as t:
                for m in t:
                    if m.isfile() and m.name.count("/") == 1 and m.name.endswith(
                            "/pyproject.toml") and m.size <= cap:
                        fh = t.extractfile(m)
                        text = fh.read() if fh else None
                        break
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise InstallError(f"{path}: not a readable sdist: {e}") from None
    if text is None:
        return list(LEGACY_BUILD)
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        table = tomllib.loads(text.decode("utf-8")).get("build-system")
    except (UnicodeDecodeError, ValueError):
        raise InstallError(f"{path}: unreadable pyproject.toml") from None
    if not isinstance(table, dict) or "requires" not in table:
        return list(LEGACY_BUILD)
    requires = table["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise InstallError(f"{path}: pyproject.toml build-system.requires is not a list of "
                           "strings")
    return requires
