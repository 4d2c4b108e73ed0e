"""Exporting a rez resolve into a new venv: the locked wheels installed with ``installer`` (the
payloads reused from the store, a local index's or site mirror's files read in place), plus
``DIR/bin/rez-env.sh``, which sets what the resolved packages' rez ``commands`` set.

The commands are run by rez's own interpreter (``rez.rex``) at export time, each package's
``root`` bound to a placeholder that is then rewritten to where the wheel put that directory in
the venv (from the wheel's layout map: ``PYTHONPATH`` dirs are site-packages, ``PATH`` dirs the
venv's ``bin``, the rest ``share/rez/<name>``, as ``convert`` placed them). Entries that become
site-packages are left out of ``PYTHONPATH`` (the venv's python has them). Values are quoted by
rez's own sh shell (``escape_string``), so the script means what ``rez env`` would: ``literal()``
parts are single-quoted, the rest expands in the shell. Prepends and appends keep what the shell
already had. What a shell script cannot replay (an alias, a command that
runs a program, a sourced file, a message) is listed in a comment and returned as a note.
"""

from __future__ import annotations

import json
import os
import shutil
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from rezwheel.errors import RezwheelError, UsageError
from rezwheel.lock import HOST, Locked, Resolved

_ROOT = "/@rezwheel-root@/"  # a root no real path starts with
_NOT_EXPRESSIBLE = {"alias": "alias", "command": "runs a program", "source": "sources a file",
                    "info": "prints a message", "error": "prints an error", "stop": "stops"}


@dataclass
class Exported:
    venv: str
    installed: list[Locked]
    rez_only: list[Locked]
    script: str  # DIR/bin/rez-env.sh
    notes: list[str] = field(default_factory=list)  # what rez-env.sh cannot do


def check_venv(venv: str) -> None:
    """A new venv: nothing may be at ``venv`` but an empty directory (a mistake in the
    command, found before any work: exit status 2)."""
    full = os.path.abspath(os.path.expanduser(venv))
    if os.path.exists(full) and (not os.path.isdir(full) or os.listdir(full)):
        raise UsageError(f"--venv {venv}: exists and is not empty (export makes a new venv)")


def export(resolved: Resolved, venv: str, store: Optional[str] = None, jobs: int = 8,
           with_pip: bool = True) -> Exported:
    """Install ``resolved`` into the new venv ``venv`` and write its ``bin/rez-env.sh``.

    ``with_pip``: seed pip as ``python -m venv`` does (the venv is a developer's, who expects
    ``pip install`` to work in it); off, the venv holds only what the resolve installed."""
    check_venv(venv)
    venv = os.path.abspath(venv)
    existed = os.path.isdir(venv)
    try:
        return _export(resolved, venv, store, jobs, with_pip)
    except BaseException:  # a venv half made is no venv: nothing is left to block a retry
        shutil.rmtree(venv, ignore_errors=True)
        if existed:
            os.makedirs(venv, exist_ok=True)
        raise


def _export(resolved: Resolved, venv: str, store: Optional[str], jobs: int,
            with_pip: bool) -> Exported:
    from rezwheel.resolve.fetch import download
    from rezwheel.pools import threads
    from rezwheel.resolve.store import Store

    python = _interpreter(resolved.python)
    steps = {s.id: s for s in resolved.steps}
    wanted = [(p, steps[p.id]) for p in resolved.wheels]
    st = Store(store)
    with threads(jobs, "rezwheel-export") as pool:
        files = list(pool.map(lambda ps: ps[1].local or download(ps[1], st), wanted))
    _run([python, "-m", "venv", "--without-pip", venv], f"--venv {venv}: python -m venv")
    scheme = json.loads(_run([os.path.join(venv, "bin", "python"), "-c",
                              "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"],
                             f"{venv}/bin/python"))
    if with_pip:
        _seed_pip(scheme, venv)
    places = {}
    for (p, _), path in zip(wanted, files):
        places[p.id.name] = _install(path, scheme, venv)
    lines, notes = _environment(resolved, places, scheme)
    script = os.path.join(venv, "bin", "rez-env.sh")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return Exported(venv, resolved.wheels, resolved.rez_only, script, notes)


def _run(cmd: list[str], what: str) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise RezwheelError(f"{what} failed: {e.strerror or type(e).__name__}") from None
    if r.returncode:  # the line saying what went wrong: venv's "Error: ...", else the first
        lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
        said = next((ln for ln in lines if "Error" in ln), lines[0] if lines else
                    f"exit status {r.returncode}")
        raise RezwheelError(f"{what} failed: {said[:300]}")
    return r.stdout


def _interpreter(python: str) -> str:
    """This interpreter when it is the target's version, else ``pythonX.Y`` on PATH."""
    import shutil

    if python == "%d.%d" % sys.version_info[:2]:
        return sys.executable
    found = shutil.which(f"python{python}")
    if not found:
        raise RezwheelError(f"python {python}: the resolve needs it and no python{python} is on "
                            "PATH to make the venv with")
    return found


#: the wheels the venv's python's ensurepip carries (pip; setuptools too before 3.12)
_BUNDLED = ("import glob, os\ntry:\n    import ensurepip\nexcept ImportError:\n    pass\n"
            "else:\n    print('\\n'.join(sorted(glob.glob(os.path.join(os.path.dirname("
            "ensurepip.__file__), '_bundled', '*.whl')))))")


def _seed_pip(scheme: dict, venv: str) -> None:
    """What ``python -m venv`` seeds, from the same wheels, installed here with ``installer``:
    a tenth of the time ensurepip takes (it runs pip to install pip). A python whose wheels
    are elsewhere (a distribution's, which patches ensurepip) runs its own ensurepip."""
    python = os.path.join(venv, "bin", "python")
    wheels = _run([python, "-c", _BUNDLED], f"{python}: finding ensurepip's wheels").splitlines()
    if not wheels:
        _run([python, "-m", "ensurepip", "--upgrade", "--default-pip"],
             f"--venv {venv}: seeding pip (--without-pip leaves it out)")
    for wheel in wheels:
        _install(wheel, scheme, venv, installer_name=b"pip")


def _install(path: str, scheme: dict, venv: str, installer_name: bytes = b"rezwheel"
             ) -> dict[str, str]:
    """Install one wheel; returns its layout map's directories (root-relative) -> venv paths
    (a plain wheel has none)."""
    import installer
    from installer.destinations import SchemeDictionaryDestination

    from rezwheel.artifact.reader import READ_ERRORS, CheckedWheelFile, open_zip

    dest = SchemeDictionaryDestination(
        dict({k: scheme[k] for k in ("purelib", "platlib", "scripts", "data")},
             headers=scheme["include"]),
        interpreter=os.path.join(venv, "bin", "python"), script_kind="posix")
    with open_zip(path) as zf:
        try:
            installer.install(CheckedWheelFile(zf, path), dest, {"INSTALLER": installer_name})
        except RezwheelError:
            raise
        except (KeyError, *READ_ERRORS) as e:
            raise RezwheelError(f"{path}: cannot install: {e}") from None
        layout = _layout(zf, path)
        dist = next((n.split("/")[0] for n in zf.namelist() if ".dist-info/" in n), "")
    if layout is None:
        return {}
    data_dir = dist.replace(".dist-info", ".data") + "/"
    out: dict[str, str] = {}
    for f in layout.files:
        if f.wheel_path.startswith(data_dir):
            kind, _, rest = f.wheel_path[len(data_dir):].partition("/")
            placed = os.path.join(scheme[{"scripts": "scripts", "data": "data",
                                          "headers": "include"}.get(kind, kind)], rest)
        else:
            placed = os.path.join(scheme["purelib"], f.wheel_path)
        # the directory both paths share a tail below: root-relative dir -> venv dir
        a, b = f.path.split("/"), placed.split("/")
        if len(a) == 1:
            out.setdefault("", os.path.dirname(placed))
            continue
        while len(a) > 1 and a[-1] == b[-1]:
            a, b = a[:-1], b[:-1]
        out.setdefault("/".join(a), "/".join(b))
    _restore_tree(layout, out, os.path.join(scheme["data"], "share", "rez", layout.id.name), venv)
    return out


def placed_path(rel: str, dirs: dict[str, str], share: str) -> str:
    """Where the root-relative path ``rel`` lies in the venv: below the deepest directory the
    wheel placed (site-packages, ``bin``), else below the package's ``share/rez/<name>``."""
    for d in sorted(dirs, key=len, reverse=True):
        if rel == d or rel.startswith(d + "/") or d == "":
            return os.path.join(dirs[d], rel[len(d):].lstrip("/")).rstrip("/")
    return os.path.join(share, rel).rstrip("/")


def _restore_tree(layout: Any, dirs: dict[str, str], share: str, venv: str) -> None:
    """What a wheel cannot carry, as ``rez env`` would see the variant: its empty directories
    and its symlinks (the layout map has them; a link that would point out of the venv once
    placed is left out), and the root itself, which ``{root}`` values name."""
    os.makedirs(share, exist_ok=True)
    for d in layout.dirs:
        os.makedirs(placed_path(d, dirs, share), exist_ok=True)
    top = os.path.realpath(venv) + os.sep
    for link in layout.links:
        at = placed_path(link.path, dirs, share)
        to = os.path.normpath(os.path.join(os.path.dirname(at), link.target))
        if not os.path.realpath(to).startswith(top) or os.path.lexists(at):
            continue
        os.makedirs(os.path.dirname(at), exist_ok=True)
        os.symlink(link.target, at)


def _layout(zf: Any, path: str) -> Any:
    from rezwheel.artifact.layout import FILENAME, Layout

    name = next((n for n in zf.namelist() if n.endswith(".dist-info/" + FILENAME)), None)
    return Layout.from_json(zf.read(name).decode("utf-8"), path) if name else None


def _environment(resolved: Resolved, places: dict, scheme: dict) -> tuple[list[str], list[str]]:
    """rez-env.sh's lines and the notes on what it cannot do."""
    from rez.rex import Python, RexExecutor
    from rez.rex_bindings import (RequirementsBinding, VariantBinding, VariantsBinding,
                                  VersionBinding, intersects)
    from rez.shells import create_shell
    from rez.system import system
    from rez.version import Requirement

    ex = RexExecutor(interpreter=Python(target_environ={}, passive=True), parent_environ={},
                     parent_variables=True, shebang=False)
    wheels = [p for p in resolved.wheels if p.id.name in places]
    variants = [(p, resolved.variants.get(p.id)) for p in wheels]
    variants = [(p, v) for p, v in variants if v is not None]
    bindings = {v.name: VariantBinding(v, cached_root=_ROOT + v.name) for _, v in variants}
    for k, val in {"system": system, "building": False, "testing": False,
                   "request": RequirementsBinding([Requirement(r) for r in resolved.requests]),
                   "implicits": RequirementsBinding([]), "resolve": VariantsBinding(bindings),
                   "intersects": intersects}.items():
        ex.bind(k, val)
    for p, v in variants:
        prefix = "REZ_" + v.name.upper().replace(".", "_")
        ex.setenv(prefix + "_VERSION", str(v.version))
        ex.setenv(prefix + "_ROOT", _ROOT + v.name)
    for attr in ("pre_commands", "commands", "post_commands"):
        for p, v in variants:
            code = getattr(v, attr)
            if code is None:
                continue
            ex.bind("this", bindings[v.name])
            ex.bind("version", VersionBinding(v.version))
            ex.bind("root", _ROOT + v.name)
            ex.bind("base", _ROOT + v.name)
            code.set_package(v)
            try:
                with ex.reset_globals():
                    ex.execute_code(code)
            except Exception as e:  # rez's own errors in a package's commands
                raise RezwheelError(f"{p.package}: its {attr} failed: "
                                    f"{' '.join(str(e).split())[:300]}") from None
    site = scheme["purelib"]

    def place(value: str) -> str:
        def sub(m: re.Match) -> str:
            name, rel = m.group(1), (m.group(2) or "").lstrip("/")
            return placed_path(rel, places.get(name, {}),
                               os.path.join(scheme["data"], "share", "rez", name))
        return re.sub(re.escape(_ROOT) + r"([^/:\s\"']+)((?:/[^:\s\"']*)?)", sub, value)

    lines = ["# written by rezwheel export: what the resolved packages' rez commands set,",
             f"# for {' '.join(resolved.requests)} (python {resolved.python})",
             "# source it: . bin/rez-env.sh"]
    lines += [f"# {p.package}: the host provides it" for p in resolved.rez_only
              if p.id.name in HOST]
    notes = [f"{p.package}: no wheel ({p.why}); its commands are not applied"
             for p in resolved.rez_only if p.id.name not in HOST]
    sh = create_shell("sh")
    body: list[str] = []
    for action in ex.manager.actions:
        kind = action.name
        if kind in ("setenv", "resetenv", "prependenv", "appendenv"):
            key, raw = action.args[0], _placed(action.args[1], place)
            if key == "PYTHONPATH" and os.path.normpath(str(raw)) == os.path.normpath(site):
                continue  # the venv's python has its site-packages
            # rez's own sh quoting: literal() parts single-quoted, the rest expands as in rez env
            value = sh.escape_string(raw, is_path=sh._is_pathed_key(key))
            line = f"export {key}=" + (value if kind in ("setenv", "resetenv") else
                                        _joined(value, f"${{{key}:+:${key}}}", False)
                                        if kind == "prependenv" else
                                        _joined(value, f"${{{key}:+${key}:}}", True))
            if kind in ("setenv", "resetenv") or line not in body:  # PATH once per directory
                body.append(line)
        elif kind == "unsetenv":
            body.append(f"unset {action.args[0]}")
        elif kind in _NOT_EXPRESSIBLE:
            text = " ".join(place(str(a)) for a in action.args)
            notes.append(f"not expressible ({_NOT_EXPRESSIBLE[kind]}): {text}")
    lines += [f"# {n}" for n in notes] + body
    return lines, notes


def _joined(quoted: str, tail: str, before: bool) -> str:
    """``tail`` (what the variable held, in double quotes) before or after the shell-quoted
    ``quoted``: inside its double quotes when it has them (``"a${PATH:+:$PATH}"``)."""
    if before:
        return f'"{tail}{quoted[1:]}' if quoted.startswith('"') else f'"{tail}"{quoted}'
    return f'{quoted[:-1]}{tail}"' if quoted.endswith('"') else f'{quoted}"{tail}"'


def _placed(value: Any, place: Any) -> Any:
    """``value`` (a rez ``EscapedString``: literal and expandable parts) with the package
    roots rewritten to the venv in every part, each part keeping its kind."""
    from rez.rex import EscapedString

    out = EscapedString.promote(value).copy()
    out.strings = [(literal, place(text)) for literal, text in out.strings]
    return out
