"""Publishing a whole repository again and again, as CI does: unchanged packages are not
converted again, a lost page comes back, and killed publishes leave nothing behind."""

import os
import signal
import subprocess
import sys
import time

from helpers import copy_samples, rezwheel


def _publish(repo, index, store, *args):
    return rezwheel("publish", repo, "--to", index, *args, check=False,
                    env=dict(os.environ, REZWHEEL_STORE=str(store)))


def test_unchanged_packages_are_not_converted_again(tmp_path):
    repo = copy_samples(tmp_path / "packages")
    index, store = tmp_path / "index", tmp_path / "store"
    first = _publish(repo, index, store)
    assert first.returncode == 0, first.stderr
    made = sorted(p.name for p in (index / "files").glob("*.whl"))
    again = _publish(repo, index, store, "--json")
    assert again.returncode == 0, again.stderr
    import json
    results = json.loads(again.stdout)
    assert sorted(r["file"] for r in results) == made
    assert {r["status"] for r in results} == {"skipped"}
    assert again.stderr.strip().splitlines()[-1] == \
        f"rezwheel: 0 converted, {len(made)} skipped, 0 failed"
    # a package whose files change is converted again (and, being the same, still skipped)
    pkg = next(repo.glob("pyutil/*/package.py"))
    os.utime(pkg, ns=(time.time_ns(), time.time_ns()))
    third = _publish(repo, index, store)
    assert third.returncode == 0, third.stderr
    assert third.stderr.strip().splitlines()[-1].startswith("rezwheel: 1 converted, ")


def test_publishing_one_family_keeps_what_the_whole_repository_publish_learnt(tmp_path):
    """CI publishes the family it released; the nightly job publishes the whole repository:
    the family's publish must not make the nightly one convert every other package again."""
    repo = copy_samples(tmp_path / "packages")
    index, store = tmp_path / "index", tmp_path / "store"
    assert _publish(repo, index, store).returncode == 0
    one = _publish(repo / "pyutil", index, store)
    assert one.returncode == 0, one.stderr
    assert one.stderr.strip().splitlines()[-1].startswith("rezwheel: 0 converted, ")
    whole = _publish(repo, index, store)
    assert whole.returncode == 0, whole.stderr
    assert whole.stderr.strip().splitlines()[-1].startswith("rezwheel: 0 converted, "), \
        whole.stderr


def test_a_lost_page_is_written_again(tmp_path):
    repo = copy_samples(tmp_path / "packages")
    index, store = tmp_path / "index", tmp_path / "store"
    assert _publish(repo, index, store).returncode == 0
    page = index / "simple" / "pyutil" / "index.html"
    text = page.read_text()
    page.unlink()
    r = _publish(repo, index, store)
    assert r.returncode == 0, r.stderr
    assert page.read_text() == text


def test_killed_publishes_leave_nothing_in_the_index(tmp_path):
    repo = copy_samples(tmp_path / "packages")
    index, store = tmp_path / "index", tmp_path / "store"
    index.mkdir()
    # what a SIGKILLed publish leaves: its staging directory, its process gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (index / f".rezwheel-publish-{dead.pid}-x" / "junk").mkdir(parents=True)
    # a SIGTERM (CI cancelling) cleans up on the way out
    p = subprocess.Popen([sys.executable, "-m", "rezwheel", "publish", repo, "--to", index],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, REZWHEEL_STORE=str(store)))
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert "Traceback" not in err
    r = _publish(repo, index, store)
    assert r.returncode == 0, r.stderr
    assert not [e for e in os.listdir(index) if e.startswith(".rezwheel-publish-")]
