"""Damaged and hostile artifacts, as a user meets them: refused with one line, nothing run."""

import json
import struct
import zipfile

import pytest

from helpers import DI, GOOD, add_member, check_refused, rebuild, rezwheel


def test_good_wheels_verify(wheels):
    r = rezwheel("verify", *sorted(wheels.glob("*.whl")))
    assert r.stdout.count(": ok") == len(list(wheels.glob("*.whl")))


def test_record_mismatch(wheels, tmp_path):
    w = rebuild(wheels / GOOD, tmp_path / GOOD,
                lambda n, d: d + b"# tampered\n" if n == "pyutil/cli.py" else d, fix_record=False)
    check_refused(w, "RECORD check failed", tmp_path)


@pytest.mark.parametrize("member", ["/etc/evil", "../evil.py", "pyutil/../../evil.py"])
def test_unsafe_member_paths(wheels, tmp_path, member):
    w = add_member(wheels / GOOD, tmp_path / GOOD, member, b"x")
    check_refused(w, "unsafe member path", tmp_path)


def test_symlink_escaping_root(wheels, tmp_path):
    def change(n, d):
        if n.endswith("rez-layout.json"):
            lay = json.loads(d)
            lay["links"].append({"path": "python/escape", "target": "../../../../etc/passwd",
                                 "wheel_path": None})
            return json.dumps(lay).encode()
        return d
    w = rebuild(wheels / GOOD, tmp_path / GOOD, change)
    check_refused(w, "points outside the variant root", tmp_path)


def test_zip_bomb_refused_from_its_header(wheels, tmp_path):
    w = add_member(wheels / GOOD, tmp_path / GOOD, "pyutil/bomb.bin", bytes(2 << 20))
    data = bytearray(w.read_bytes())
    # patch the central directory entry of the last member: uncompressed size -> 1 TiB (zip64-free
    # field max), as a forged archive would declare it
    entry = data.rfind(b"pyutil/bomb.bin") - 46
    assert data[entry:entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, 0xFFFFFFF0)
    w.write_bytes(bytes(data))
    check_refused(w, "refused as a zip bomb", tmp_path)


@pytest.mark.parametrize("payload", [
    "import os\nos.system('touch {marker}')\n",
    "name = 'pyutil'\nversion = '1.2.0'\n__import__('os').system('touch {marker}')\n",
    "name = 'pyutil'\nversion = (__import__('os').system('touch {marker}'), '1.2.0')[1]\n",
    "name = 'pyutil'\nversion = '1.2.0'\n@__import__('os').system('touch {marker}')\ndef commands():\n    pass\n",
])
def test_malicious_definition_never_runs(wheels, tmp_path, payload):
    marker = tmp_path / "pwned"
    text = payload.format(marker=marker).encode()
    w = rebuild(wheels / GOOD, tmp_path / GOOD,
                lambda n, d: text if n.endswith("rez-package.py") else d)
    r = rezwheel("verify", w, check=False)
    assert r.returncode == 1 and "is not allowed in a package definition" in r.stderr
    assert f"{DI}/rez-package.py" in r.stderr
    r = rezwheel("install", w, "--into", tmp_path / "repo", check=False)
    assert r.returncode == 1
    assert not marker.exists()


def test_not_a_rezwheel_artifact(tmp_path):
    w = tmp_path / "plain-1.0-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr("plain.py", "")
        z.writestr("plain-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: plain\nVersion: 1.0\n")
        z.writestr("plain-1.0.dist-info/RECORD", "")
    r = rezwheel("verify", w, check=False)
    assert r.returncode == 1 and "not a rezwheel artifact" in r.stderr
