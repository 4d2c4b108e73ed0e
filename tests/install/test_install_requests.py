"""How `rezwheel install` reads what it is asked for: rez requests, PEP 508 requirements, and
pip's requirement and constraint files (the library, then the CLI's exit statuses)."""

import textwrap

import pytest

from helpers import rezwheel
from rezwheel.resolve.wanted import Asked, UsageError, parse, read_file


@pytest.mark.parametrize("token, rez, pep", [
    ("mytool-2+<3", "mytool", None),          # rez only
    ("!foo", "foo", None),
    ("~bar-1", "bar", None),
    ("pyyaml", "pyyaml", "pyyaml"),           # both read the same family/project
    ("importlib-metadata", "importlib", "importlib-metadata"),  # both, differently
    ("requests[socks]>=2.30", None, "requests"),  # PEP 508 only
    ("foo~=1.2", None, "foo"),
    ('tomli; python_version < "3.11"', None, "tomli"),
])
def test_each_token_keeps_the_readings_its_text_allows(token, rez, pep):
    w = parse(token)
    assert w.rez == rez
    assert (w.pep.name if w.pep else None) == pep


@pytest.mark.parametrize("token", ["foo bar baz", "foo @ https://example.invalid/foo.whl",
                                   "[socks]", "foo>=>1"])
def test_a_token_no_grammar_reads_is_a_usage_error(token):
    with pytest.raises(UsageError) as e:
        parse(token)
    assert token in str(e.value) and "\n" not in str(e.value)


def test_requirement_files_read_as_pip_reads_them(tmp_path):
    (tmp_path / "constraints.txt").write_text("idna<3.20  # keep the old one\n")
    (tmp_path / "more.txt").write_text("zipp\n")
    req = tmp_path / "requirements.txt"
    req.write_text(textwrap.dedent("""\
        # tools the pipeline needs
        pyyaml==6.0.4
        requests[socks] \\
            >=2.30
        -c constraints.txt
        -r more.txt
        certifi --hash=sha256:0123
        --only-binary :all:
        """))
    asked = Asked()
    read_file(str(req), asked)
    assert [str(w.pep) for w in asked.wanted] == ["pyyaml==6.0.4", "requests[socks]>=2.30",
                                                  "zipp", "certifi"]
    assert [str(w.pep) for w in asked.constraints] == ["idna<3.20"]
    assert asked.wanted[1].origin == f"{req}:3"


@pytest.mark.parametrize("line", ["-i https://pypi.org/simple", "-e ./src",
                                  "--find-links /tmp", "foo @ file:///tmp/foo.whl"])
def test_requirement_file_lines_that_choose_sources_are_refused(tmp_path, line):
    req = tmp_path / "requirements.txt"
    req.write_text(f"pyyaml\n{line}\n")
    with pytest.raises(UsageError) as e:
        read_file(str(req), Asked())
    assert f"{req}:2" in str(e.value)


def test_usage_errors_exit_2_and_failures_exit_1(tmp_path):
    repo = tmp_path / "repo"
    r = rezwheel("install", "foo bar", "--into", repo, "--index", tmp_path, check=False)
    assert r.returncode == 2 and r.stderr.startswith("rezwheel: error: foo bar: neither"), r.stderr
    r = rezwheel("install", "--into", repo, "--index", tmp_path, check=False)
    assert r.returncode == 2 and "nothing to install" in r.stderr, r.stderr
    r = rezwheel("install", "-r", tmp_path / "missing.txt", "--into", repo, "--index", tmp_path,
                 check=False)
    assert r.returncode == 2 and "missing.txt: cannot read" in r.stderr, r.stderr
    r = rezwheel("install", "nosuchthing", "--into", repo, "--index", tmp_path, check=False)
    assert r.returncode == 1 and "nosuchthing: no such package on" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
