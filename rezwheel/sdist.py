"""sdists pip picked, built into wheels the way ``rez pip`` gets them: by ``pip wheel``, in an
isolated build environment whose build requirements come from the same indexes.

Building runs the project's own build code (as ``pip install`` would): it happens when
installing, never while rez resolves. The sdist is checked against
the sha256 the index lists before it is built, and the built wheel is kept in the store under
the sdist's sha256, so a re-run builds nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace

from .errors import InstallError, RezwheelError
from .hashing import sha256_file
from .index.simple import IndexFile
from .pypi import Pick, check_filename, run_pip, wheel_metadata
from .redaction import redact
from .store import Store, check_sha256


def build(pick: Pick, source: object, index_urls: list[str], store: Store) -> Pick:
    """``pick`` (an sdist) as the wheel built from it: same project and version, the wheel's
    own metadata, and ``sdist`` recording what it was built from."""
    if not pick.sha256:
        raise InstallError(f"{pick.filename}: the index gives no sha256 to verify it against")
    built = _built(store, pick.sha256) or _build(pick, source, index_urls, store)
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


def _built(store: Store, sdist_sha: str) -> str | None:
    directory = os.path.join(store.root, "built", check_sha256(sdist_sha))
    try:
        wheels = [n for n in os.listdir(directory) if n.endswith(".whl")]
    except OSError:
        return None
    return os.path.join(directory, wheels[0]) if len(wheels) == 1 else None


def _build(pick: Pick, source: object, index_urls: list[str], store: Store) -> str:
    sha = pick.sha256 or ""
    f = IndexFile(pick.filename, pick.url, sha, None)
    local = getattr(source, "local_path", lambda _: None)(f)
    if local and sha256_file(local) == sha:
        path = local
    else:
        path = store.fetch_wheel(sha, pick.filename, lambda dest: source.fetch(f, dest))  # type: ignore[attr-defined]
    parent = os.path.join(store.root, "built")
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        out = os.path.join(tmp, "wheel")
        try:
            run_pip(["wheel", "--no-deps", "--quiet", "--wheel-dir", out, path], index_urls,
                    f"build {pick.filename} (from {redact(pick.url)})")
        except RezwheelError as e:
            raise InstallError(str(e)) from None
        wheels = os.listdir(out) if os.path.isdir(out) else []
        if len(wheels) != 1 or not wheels[0].endswith(".whl"):
            raise InstallError(f"{pick.filename}: pip built {wheels or 'nothing'}, not one wheel")
        check_filename(wheels[0], pick.filename)
        final = os.path.join(parent, sha)
        try:
            os.rename(out, final)
        except OSError:  # another process built it meanwhile
            if _built(store, sha) is None:
                raise
        return os.path.join(final, os.listdir(final)[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
