"""What `rezwheel lock` and `rezwheel export` say: --json, --quiet, counts, errors, and
`rez wheel --help`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import env, rezwheel

PY = "%d.%d" % sys.version_info[:2]
pytestmark = pytest.mark.skipif(PY != "3.11" or sys.platform != "linux",
                                reason="the samples' compiled variants are CPython 3.9/3.11 on "
                                "linux; the lock picks the 3.11 one")


def run(*args: object, store: Path, check: bool = True) -> subprocess.CompletedProcess:
    return rezwheel(*map(str, args), check=check, env=env(REZWHEEL_STORE=str(store)))


def test_json_names_each_rez_variant(index, tmp_path):
    r = run("lock", "multitool", "python-3.11", "--index", index, "-o", tmp_path / "pylock.toml",
            "--json", store=tmp_path / "store")
    by_name = {p["rez_name"]: p for p in json.loads(r.stdout)["packages"]}
    assert (by_name["multitool"]["rez_version"], by_name["multitool"]["variant"]) == ("2.1.0", 1)
    assert by_name["multitool"]["filename"] == "multitool-2.1.0-cp311-cp311-linux_x86_64.whl"
    assert by_name["python"]["filename"] is None and by_name["python"]["variant"] is None


def test_counts_are_pluralised(index, tmp_path):
    one = run("lock", "pyutil", "--index", index, "-o", tmp_path / "pylock.toml",
              store=tmp_path / "store")
    assert one.stdout.splitlines()[-1].endswith("pylock.toml: 1 wheel, 1 rez-only"), one.stdout
    two = run("lock", "multitool", "python-3.11", "--index", index, "-o",
              tmp_path / "pylock.toml", store=tmp_path / "store")
    assert two.stdout.splitlines()[-1].endswith("pylock.toml: 2 wheels, 3 rez-only"), two.stdout


def test_quiet_prints_nothing_on_success(index, tmp_path):
    r = run("lock", "multitool", "python-3.11", "--index", index, "-o", tmp_path / "pylock.toml",
            "--quiet", store=tmp_path / "store")
    assert (r.stdout, r.stderr) == ("", "")
    # mytool's alias and command cannot be replayed: a note, unless --quiet
    loud = run("export", "mytool-2", "--python", "3.11", "--index", index, "--venv",
               tmp_path / "a", "--without-pip", store=tmp_path / "store")
    assert "rezwheel: note: not expressible (alias)" in loud.stderr
    assert "1 wheel installed" not in loud.stdout and "2 wheels installed" in loud.stdout
    quiet = run("export", "mytool-2", "--python", "3.11", "--index", index, "--venv",
                tmp_path / "b", "--without-pip", "--quiet", store=tmp_path / "store")
    assert (quiet.stdout, quiet.stderr) == ("", "")
    assert (tmp_path / "b" / "bin" / "rez-env.sh").exists()


def test_errors_name_no_temporary_directory(index, tmp_path):
    """The target host's stand-in packages live in a temporary directory: never named."""
    r = run("lock", "nosuch", "python-3.11", "--index", index, "-o", tmp_path / "pylock.toml",
            store=tmp_path / "store", check=False)
    assert r.returncode == 1
    assert r.stderr == f"rezwheel: error: nosuch: no such package on {index}\n"
    r = run("export", "nosuch", "--index", index, "--venv", tmp_path / "env",
            store=tmp_path / "store", check=False)
    assert r.stderr == f"rezwheel: error: nosuch: no such package on {index}\n"
    assert not (tmp_path / "env").exists()


def test_rez_wheel_help_lists_the_commands(tmp_path):
    from helpers import BIN

    e = env(REZ_QUIET="1", REZWHEEL_STORE=str(tmp_path / "store"))
    r = subprocess.run([str(BIN / "rez"), "wheel", "--help"], capture_output=True, text=True,
                       env=e)
    if "invalid choice: 'wheel'" in r.stderr:
        pytest.skip("this environment's rezwheel was installed without its rez command entry "
                    "point (test_lock.test_rez_wheel_command runs it through a stand-in)")
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("  ") and ln.split()}
    assert {"lock", "export", "install", "publish", "convert", "mirror"} <= lines, r.stdout
    assert "rez wheel COMMAND --help" in r.stdout
    r = subprocess.run([str(BIN / "rez"), "wheel", "lock", "--help"], capture_output=True,
                       text=True, env=e)
    assert r.returncode == 0 and "usage: rez wheel lock" in r.stdout, r.stdout + r.stderr


def test_an_unwritable_lock_file_is_one_line(index, tmp_path):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "pylock.toml"
    r = run("lock", "pyutil", "--index", index, "-o", out, store=tmp_path / "store", check=False)
    # found before anything is resolved: a usage mistake (exit 2), said as for every command
    assert r.returncode == 2
    assert r.stderr == f"rezwheel: error: -o {out}: {out.parent} is a file, not a directory\n"


def test_a_failed_venv_says_its_reason_not_its_last_line():
    """python -m venv (or a pyenv shim standing for pythonX.Y) ends with hints: the line with
    the error is the one said."""
    from rezwheel.errors import RezwheelError
    from rezwheel.export import _run

    with pytest.raises(RezwheelError) as e:
        _run([sys.executable, "-c", "import sys; sys.stderr.write('Error: [Errno 13] "
              "Permission denied: x\\n\\nNote: see the help\\n'); sys.exit(1)"], "--venv x")
    assert str(e.value) == "--venv x failed: Error: [Errno 13] Permission denied: x"


def test_rez_errors_name_no_scratch_repository(index, tmp_path, monkeypatch):
    """rez says which paths it searched; the planner's scratch repository of pip's picks is
    said as what it is (rez names it when a plain project's dependency is not there)."""
    from rezwheel import lock
    from rezwheel.errors import RezwheelError
    from rezwheel.resolve.planner import Planner

    def plan(self, *_a, **_k):
        raise RezwheelError(f"cannot resolve x: package family not found: y (searched: "
                            f"{index}; {self.scratch})")

    monkeypatch.setenv("REZWHEEL_STORE", str(tmp_path / "store"))
    monkeypatch.setattr(Planner, "plan", plan)
    with pytest.raises(RezwheelError) as e:
        lock.resolve(["x"], [str(index)], python="3.11")
    assert str(e.value) == ("cannot resolve x: package family not found: y (searched: "
                            f"{index}; the plain projects pip resolved)")
