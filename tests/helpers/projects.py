"""Small projects built for the install and mirror tests: plain PyPI projects (source trees
written here, built with ``build``) and ``mixtool``, one of ours requiring one of them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import rezwheel

PROJECTS = {
    # pure: a console script and package data
    "pureapp": {
        "pyproject.toml": """
            [project]
            name = "pureapp"
            version = "1.0.2"
            description = "A pure package with a console script"
            requires-python = ">=3.8"
            [project.scripts]
            pureapp = "pureapp.cli:main"
            [tool.setuptools.package-data]
            pureapp = ["data/*.txt"]
            """,
        "pureapp/__init__.py": "NAME = 'pureapp'\n",
        "pureapp/cli.py": """
            import os
            def main():
                here = os.path.dirname(__file__)
                with open(os.path.join(here, "data", "greeting.txt")) as fh:
                    print(fh.read().strip())
            """,
        "pureapp/data/greeting.txt": "hello from pureapp data\n",
    },
    # an extension-like platform tag (cpXY-cpXY-linux_x86_64)
    "fastext": {
        "pyproject.toml": """
            [project]
            name = "fast-ext"
            version = "0.3"
            description = "Pretends to hold a compiled extension"
            """,
        "setup.py": """
            from setuptools import setup
            from setuptools.dist import Distribution
            class Binary(Distribution):
                def has_ext_modules(self):
                    return True
            setup(distclass=Binary, packages=["fastext"])
            """,
        "fastext/__init__.py": "SPEED = 'fast'\n",
    },
    # a data file outside site-packages: where it goes is rez's pip_install_remaps' call
    "datapkg": {
        "pyproject.toml": """
            [project]
            name = "datapkg"
            version = "0.1"
            """,
        "setup.py": """
            from setuptools import setup
            setup(packages=["datapkg"], data_files=[("share/datapkg", ["notes.txt"])])
            """,
        "datapkg/__init__.py": "",
        "notes.txt": "shared notes\n",
    },
    # dependencies behind environment markers: one for this python, one never
    "markerapp": {
        "pyproject.toml": """
            [project]
            name = "markerapp"
            version = "2.0"
            description = "Depends through markers"
            dependencies = [
                'pureapp>=1.0; python_version >= "3.8"',
                'neverlib>=1; python_version < "3"',
                'fast-ext',
            ]
            """,
        "markerapp/__init__.py": "from pureapp import NAME as DEP\nimport fastext\n",
    },
    # a requirement spelled otherwise than the project it names (rich's "pygments" is the
    # family Pygments): the family is spelled as installed, as rez-pip's name_casings does
    "caseapp": {
        "pyproject.toml": """
            [project]
            name = "caseapp"
            version = "0.2"
            dependencies = ['PureApp>=1.0']
            """,
        "caseapp/__init__.py": "",
    },
}

MIXTOOL = """
name = 'mixtool'
version = '1.0'
description = 'One of ours, requiring a plain PyPI distribution'
requires = ['markerapp-2+']
tools = ['mixtool']

def commands():
    env.PATH.append('{root}/bin')
"""


BUILD_SYSTEM = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
"""


def _write_tree(root: Path, files: dict) -> None:
    files = dict(files, **{"pyproject.toml": BUILD_SYSTEM + textwrap.dedent(files["pyproject.toml"])})
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())


def build_plain_wheels(out: Path, src: Path) -> Path:
    """Every project of PROJECTS built into ``out`` (sources written under ``src``), the builds
    side by side: each is a python start-up and a setuptools run, most of the suite's setup."""
    builds = []
    for name, files in PROJECTS.items():
        _write_tree(src / name, files)
        builds.append(subprocess.Popen(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
             str(out / name), str(src / name)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for name, p in zip(PROJECTS, builds):
        log, _ = p.communicate()
        if p.returncode:
            raise subprocess.CalledProcessError(p.returncode, p.args, log)
    for name in PROJECTS:  # each into a directory of its own (no two builds write one), then one
        for wheel in (out / name).iterdir():
            wheel.rename(out / wheel.name)
        (out / name).rmdir()
    return out


def build_mixtool(top: Path) -> Path:
    """``mixtool-1.0`` written under ``top`` and converted: its wheel."""
    pkg = top / "mixtool" / "1.0"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "package.py").write_text(MIXTOOL)
    script = pkg / "bin" / "mixtool"
    script.write_text("#!/usr/bin/env python\nimport markerapp\n"
                      "print('mixtool with', markerapp.DEP, markerapp.fastext.SPEED)\n")
    script.chmod(0o755)
    out = pkg.parent.parent / "wheels"
    rezwheel("convert", pkg, "-o", out)
    return next(out.glob("*.whl"))
