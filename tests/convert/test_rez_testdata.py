"""rez's own test repositories through rezwheel: inputs nobody here wrote.

rez ships the package repositories its test-suite uses (``rez/data/tests``): combined family
files, single-file and unversioned packages, ``@late`` and ``@include`` functions, old-style
commands, hashed variants, a package.py that raises, solver edge cases. Each goes through
rezwheel as a studio would take it (convert, publish to a directory index, resolve through the
plugin, ``rezwheel install`` into an empty repository) and is held against rez's filesystem
repository on the original: the same packages listed, the same resolves and environments (roots
mapped), the same package data once installed. What rezwheel refuses is listed in ``REPOS``
with the reason its one line must give; everything else must match, but for the two
differences the index cannot avoid (``without_accepted``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import env, rezwheel, tree

#: where rez keeps its test data, found from the installed rez (never a copy of ours)
DATA = Path(__import__("rez").__file__).parent / "data" / "tests"

#: repository -> {package rezwheel refuses: what its one line must say}. Every refusal here is
#: deliberate: a package.py that raises when loaded (rez cannot load it either); a definition
#: naming another package than the one rez reads at its place ('testing obj' in testing_obj/);
#: ``@include`` (its modules live outside any variant root: every host would refuse the
#: definition, so convert does); old-style commands (rez refuses them too:
#: disable_rez_1_compatibility is on by default)
REPOS = {
    "packages/py_packages": {"versioned-2.0": "This package.py should never be loaded"},
    "packages/yaml_packages": {},
    "builds/packages": {
        "foo-1.1.0": "decorator @include('late_utils') is not allowed in a package definition",
        "testing_obj-1.0.0": "its definition names 'testing obj', but it lies where rez reads "
                             "testing_obj-1.0.0"},
    "commands/packages": {"rextest-1.1": "is using old-style commands"},
    "solver/packages": {},
    "suites/packages": {},
}

# The differences an index cannot avoid, dropped from both sides before comparing:
# - a package defined in a file (combined family file, single-file package) has no directory,
#   so rez gives it no root or base ("None"); from an index every variant has a localized root
#   (its base, as for any package without variants)
# - a variant of a package with variants is localized alone, with no package directory
#   around it: its base is None ("None"), where rez gives the package's directory

#: what a rez process reports of a packages path: the families and versions it lists, and for
#: each request whether it resolves, to which variants, with which environment (variant roots
#: and bases written as {root:NAME} / {base:NAME}); and each package's data but its location
PROBE = r"""
import json, sys
from rez.config import Config
from rez.package_repository import package_repository_manager
from rez.packages import iter_packages
from rez.resolved_context import ResolvedContext
from rez.utils.sourcecode import SourceCode

SKIP = ("REZ_USED", "REZ_USED_TIMESTAMP", "REZ_USED_PACKAGES_PATH")


def listing(path):
    repo = package_repository_manager.get_repository(path)
    return sorted("%s-%s" % (p.name, p.version) if str(p.version) else p.name
                  for f in repo.iter_package_families() for p in iter_packages(f.name, paths=[path]))


def resolve(path, request):
    request, _, when = request.partition("@")
    try:
        c = ResolvedContext(request.split(), package_paths=[path],
                            timestamp=int(when) if when else None)
    except Exception as e:
        return {"error": type(e).__name__}
    if not c.success:  # a cycle may be told from another package: the words, not their order
        return {"failed": sorted(set(str(c.failure_description).split()))}
    names, variants = {}, []
    for v in c.resolved_packages:
        variants.append([v.qualified_name, v.index is not None, v.root is None])
        if v.root:
            names[v.root] = "{root:%s}" % v.name
        if v.base and v.base not in names:
            names[v.base] = "{base:%s}" % v.name
    try:
        environ = c.get_environ()
    except Exception as e:
        return {"variants": variants, "env-error": type(e).__name__}
    def mapped(s):
        for a in sorted(names, key=len, reverse=True):
            s = s.replace(a, names[a])
        return s
    return {"variants": variants,
            "environ": {k: mapped(v) for k, v in environ.items() if k not in SKIP}}


def plain(value):
    if isinstance(value, SourceCode):
        return ["code", value.source, [d.get("name") for d in value.decorators or []]]
    if isinstance(value, Config):
        return ["config", plain(value.overrides)]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)


def view(path):
    out = {}
    for f in package_repository_manager.get_repository(path).iter_package_families():
        for p in iter_packages(f.name, paths=[path]):
            try:
                out[p.qualified_name] = {k: plain(v) for k, v in p.validated_data().items()
                                         if k not in ("base", "repository")}
            except Exception as e:
                out[p.qualified_name] = type(e).__name__
    return out


def roots(path):
    out = {}
    for f in package_repository_manager.get_repository(path).iter_package_families():
        for p in iter_packages(f.name, paths=[path]):
            try:
                out[p.qualified_name] = [v.root for v in p.iter_variants()]
            except Exception:
                pass
    return out


original, index, installed, refused, extra = json.loads(sys.argv[1])
listed = listing(original)
requests = [p.replace("-", "==", 1) if "-" in p else p for p in listed if p not in refused]
requests += extra
print(json.dumps({
    "original": {"listing": listed, "resolves": {r: resolve(original, r) for r in requests},
                 "view": view(original), "roots": roots(original)},
    "index": {"listing": listing(index), "resolves": {r: resolve(index, r) for r in requests}},
    "installed": {"view": view(installed), "roots": roots(installed)},
}))
"""


def solver_requests() -> list[str]:
    """Every request rez's own solver tests make (read from its test module, as literals)."""
    import ast

    source = (DATA.parent.parent / "tests" / "test_solver.py").read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_solve" \
                and node.args and isinstance(node.args[0], ast.List):
            request = " ".join(ast.literal_eval(node.args[0]))
            if request:
                found.add(request)
    return sorted(found)


def requests_of(name: str) -> list[str]:
    """Requests beyond one per listed package (``REQUEST@TIME``: resolved as of that time)."""
    if name == "solver/packages":
        found = solver_requests()
        assert len(found) > 30  # the test module moved or changed shape: say so
        return found
    if name == "packages/py_packages":  # timestamped-1.0.5 ... 2.1.5 are stamped 1000 ... 8000
        return [f"timestamped@{t}" for t in (999, 1500, 2000, 4500, 8000)] + ["timestamped",
                                                                              "multi"]
    return []


def copy_repo(name: str, dest: Path) -> Path:
    shutil.copytree(DATA / name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def without_accepted(result: dict, original: dict) -> dict:
    """A resolve as compared: the differences above dropped, on either side, for the
    variants the original resolve says they apply to."""
    if "environ" not in result or "environ" not in original:
        return result
    environ = dict(result["environ"])
    for qualified, has_index, no_root in original["variants"]:
        prefix = "REZ_" + qualified.split("-")[0].split("[")[0].upper().replace(".", "_")
        if has_index or no_root:
            environ.pop(f"{prefix}_BASE", None)
        if no_root:
            environ.pop(f"{prefix}_ROOT", None)
    return {"variants": [v[0] for v in result["variants"]], "environ": environ}


def probe(original: Path, index: Path, installed: Path, refused, extra: list,
          tmp_path: Path) -> dict:
    args = json.dumps([str(original), f"artifactory@{index}", str(installed), sorted(refused),
                       extra])
    r = subprocess.run([sys.executable, "-c", PROBE, args], capture_output=True, text=True,
                       env=env(REZWHEEL_STORE=str(tmp_path / "store"), REZ_QUIET="1"))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def rez_listing(repo: Path) -> list[str]:
    """What rez lists in a repository (its loader only lists: nothing is loaded here)."""
    from rez.package_repository import package_repository_manager
    from rez.packages import iter_packages

    fs = package_repository_manager.get_repository(str(repo))
    return sorted(f"{p.name}-{p.version}" if str(p.version) else p.name
                  for f in fs.iter_package_families()
                  for p in iter_packages(f.name, paths=[str(repo)]))


@pytest.mark.parametrize("name", sorted(REPOS))
def test_rez_test_repository_through_rezwheel(name, tmp_path):
    refused = REPOS[name]
    src = copy_repo(name, tmp_path / "src")
    out, index, installed = tmp_path / "out", tmp_path / "index", tmp_path / "installed"

    # 1. convert: each refusal on one line naming the package's file and why, nothing else
    r = rezwheel("convert", src, "-o", out, check=False)
    assert all(ln.startswith("rezwheel: ") for ln in r.stderr.splitlines()), r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("rezwheel: error:")]
    assert len(errors) == len(refused), r.stderr
    for package, reason in refused.items():
        family, version = package.split("-", 1)
        (line,) = [e for e in errors if f"{src}/{family}/{version}/package." in e]
        assert reason in line, line
    assert r.returncode == (1 if refused else 0), r.stderr  # README: a failure exits 1
    assert not refused or f" {len(refused)} failed" in r.stderr, r.stderr
    # 2. publish, and install every package rez lists but the refused, by request, into an
    # empty repository
    rezwheel("publish", *sorted(out.glob("*.whl")), "--to", index)
    requests = [p.replace("-", "==", 1) if "-" in p else p
                for p in rez_listing(src) if p not in refused]
    rezwheel("install", *requests, "--no-deps", "--into", installed, "--index", index,
             env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    seen = probe(src, index, installed, refused, requests_of(name), tmp_path)
    original, from_index = seen["original"], seen["index"]

    # 3. the plugin lists what rez lists, but the refused; resolves the same, same environment
    assert from_index["listing"] == [p for p in original["listing"] if p not in refused]
    assert from_index["resolves"].keys() == original["resolves"].keys()
    for request, want in original["resolves"].items():
        got = from_index["resolves"][request]
        chosen = {v[0].split("[")[0] for v in want.get("variants", [])}
        if chosen & set(refused):  # rez chose a package the index does not have
            assert not {v[0].split("[")[0] for v in got.get("variants", [])} & set(refused)
            continue
        assert without_accepted(got, want) == without_accepted(want, want), request
    # 4. rez's loader reads the installed packages as the originals, location keys aside
    assert seen["installed"]["view"] == {k: v for k, v in original["view"].items()
                                         if k not in refused}
    # and each variant root holds what the original's holds (caches aside)
    for package, want in original["roots"].items():
        if package in refused:
            continue
        got = seen["installed"]["roots"][package]
        for a, b in zip(want, got):
            if a and os.path.isdir(a):
                assert tree(Path(a), want) == tree(Path(b), got), (package, a)


@pytest.mark.parametrize("name, reason", [
    # developer packages (package.yaml/.py straight in each directory): not a repository
    ("packages", "its definition names"),
    # a package's source directory (release/package.yaml): not a repository either
    ("release", "its definition names 'foo', but it lies where rez reads"),
])
def test_what_is_not_a_repository_is_said_per_package(name, reason, tmp_path):
    src = copy_repo(name, tmp_path / "src")
    r = rezwheel("convert", src, "-o", tmp_path / "out", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith("rezwheel: error:")]
    assert errors and all(ln.startswith(f"rezwheel: error: {src}") for ln in errors), errors
    assert any(reason in ln for ln in errors), errors
    assert "None:" not in r.stderr  # a version directory without a definition is named
    assert all(ln.startswith("rezwheel: ") for ln in lines), lines


def test_a_value_rez_cannot_write_is_refused_on_one_line(tmp_path):
    """rez's config test package (config/package.py) overrides settings with ``ModifyList``:
    rez loads it, but its writer puts the object's repr into the text (its own install of the
    package writes a file nobody can load). Converting it is refused, naming the key."""
    src = tmp_path / "src"
    (src / "foo" / "1.0.0").mkdir(parents=True)
    shutil.copy(DATA / "config" / "package.py", src / "foo" / "1.0.0" / "package.py")
    (src / "bar" / "1.0").mkdir(parents=True)
    (src / "bar" / "1.0" / "package.py").write_text("name = 'bar'\nversion = '1.0'\n")
    r = rezwheel("convert", src, "-o", tmp_path / "out", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("rezwheel: error:")]
    assert errors == [f"rezwheel: error: {src}/foo/1.0.0/package.py: config.release_hooks is a "
                      "ModifyList, which rez's writer cannot write; hosts could not read its "
                      "definition: not converted"]
    assert [p.name for p in (tmp_path / "out").glob("*.whl")] == ["bar-1.0-py3-none-any.whl"]


def test_comments_opening_a_body_survive_and_older_installs_stay_the_same_package(tmp_path):
    """rextest2's commands open with a comment: rez keeps it in the function's source, and so
    must the package.py an install writes. A repository where an older rezwheel installed the
    package without that comment still holds the same package: installing it again is
    "present", not a refused "different definition"."""
    src = copy_repo("commands/packages", tmp_path / "src")
    shutil.rmtree(src / "rextest" / "1.1")  # old-style commands: refused, not at issue here
    out, index, repo = tmp_path / "out", tmp_path / "index", tmp_path / "repo"
    rezwheel("convert", src, "-o", out)
    rezwheel("publish", *sorted(out.glob("*.whl")), "--to", index)
    store = env(REZWHEEL_STORE=str(tmp_path / "store"))
    rezwheel("install", "rextest2", "--into", repo, "--index", index, env=store)
    installed = repo / "rextest2" / "2" / "package.py"
    text = installed.read_text()
    assert "    # prepend to existing var\n" in text
    installed.write_text(text.replace("    # prepend to existing var\n", ""))  # as before
    r = rezwheel("install", "rextest2", "--no-deps", "--into", repo, "--index", index,
                 check=False, env=store)
    assert r.returncode == 0 and "already installed" not in r.stderr, r.stderr
