"""Every credential provider, through `rezwheel publish` against the Artifactory fixture."""

import json
import os

import pytest

from helpers import ARTIFACTORY_TOKENS, env, rezwheel

TOKEN = ARTIFACTORY_TOKENS[1]
WHEEL = "pyutil-1.2.0-py3-none-any.whl"


def publish(wheels, to, e):
    r = rezwheel("publish", wheels / WHEEL, "--to", to, "--json", env=e, check=False)
    assert TOKEN not in r.stdout + r.stderr  # never printed, whatever happened
    return r


def uploaded(r):
    return r.returncode == 0 and [x["status"] for x in json.loads(r.stdout)] == ["uploaded"]


def write_config(tmp_path, url, body="", mode=0o600):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[index.studio]\nupload-url = "{url}"\ntype = "artifactory"\n{body}')
    os.chmod(cfg, mode)
    return cfg


def test_config_token(artifactory, wheels, tmp_path):
    cfg = write_config(tmp_path, artifactory.url, f'token = "{TOKEN}"\n')
    assert uploaded(publish(wheels, "studio", env(REZWHEEL_CONFIG=str(cfg))))


def test_config_with_secret_readable_by_others_is_refused(artifactory, wheels, tmp_path):
    cfg = write_config(tmp_path, artifactory.url, f'token = "{TOKEN}"\n', mode=0o644)
    r = publish(wheels, "studio", env(REZWHEEL_CONFIG=str(cfg)))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"rezwheel: error: {cfg}: holds credentials but is readable by "
                                f"others; run: chmod 600 {cfg}")
    assert artifactory.files == {}


@pytest.mark.parametrize("variables", [
    {"REZWHEEL_STUDIO_TOKEN": TOKEN},
    {"REZWHEEL_STUDIO_USERNAME": "ci", "REZWHEEL_STUDIO_PASSWORD": TOKEN},  # basic, token as password
])
def test_environment(artifactory, wheels, tmp_path, variables):
    cfg = write_config(tmp_path, artifactory.url)
    assert uploaded(publish(wheels, "studio", env(REZWHEEL_CONFIG=str(cfg), **variables)))
    assert artifactory.auth_schemes == ({"Basic"} if "REZWHEEL_STUDIO_USERNAME" in variables else {"Bearer"})


def test_unnamed_token_only_for_an_index_given_by_url(artifactory, wheels, tmp_path):
    """REZWHEEL_TOKEN was meant for the URL on the command line: a named index (which has its
    own REZWHEEL_<NAME>_TOKEN) never receives it."""
    cfg = write_config(tmp_path, artifactory.url)
    r = publish(wheels, "studio", env(REZWHEEL_CONFIG=str(cfg), REZWHEEL_TOKEN=TOKEN))
    assert r.returncode == 1 and not artifactory.files
    assert artifactory.auth_schemes == {"anonymous"}
    artifactory.auth_schemes.clear()
    assert uploaded(publish(wheels, artifactory.url, env(REZWHEEL_TOKEN=TOKEN)))
    assert artifactory.auth_schemes == {"Bearer"}


def test_named_environment_beats_unnamed_and_netrc(artifactory, wheels, tmp_path):
    cfg = write_config(tmp_path, artifactory.url)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ci password wrong\n")
    e = env(REZWHEEL_CONFIG=str(cfg), REZWHEEL_STUDIO_TOKEN=TOKEN, REZWHEEL_TOKEN="wrong",
            NETRC=str(netrc))
    assert uploaded(publish(wheels, "studio", e))


def test_netrc(artifactory, wheels, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login ci password {TOKEN}\n")
    os.chmod(netrc, 0o600)
    assert uploaded(publish(wheels, artifactory.url, env(NETRC=str(netrc))))


def test_keyring_when_enabled(artifactory, wheels):
    e = env(PYTHON_KEYRING_BACKEND="rezwheel_test_keyring.EnvKeyring",
            REZWHEEL_TEST_KEYRING=f"ci:{TOKEN}")
    assert not uploaded(publish(wheels, artifactory.url, e))  # not consulted unless asked for
    assert uploaded(publish(wheels, artifactory.url, {**e, "REZWHEEL_KEYRING": "1"}))


def test_entry_point_provider(artifactory, wheels):
    r = publish(wheels, artifactory.url, env())
    assert not uploaded(r) and "no credentials found" in r.stderr
    assert uploaded(publish(wheels, artifactory.url, env(REZWHEEL_TEST_VAULT=TOKEN)))


def test_secret_never_in_debug_output(artifactory, wheels):
    r = rezwheel("--debug", "publish", wheels / WHEEL, "--to", artifactory.url.replace("rez", "nope"),
                 env=env(REZWHEEL_TOKEN=TOKEN), check=False)
    assert r.returncode == 1 and TOKEN not in r.stdout + r.stderr
