"""Credentials in a server URL are never shown and never replace the key.

A profile's base_url (or a model reference `openai:MODEL@URL`) may hold
`user:password@`. loom shows such URLs as `http://***@host` in listings,
messages and reports, stores no password in a session, and does not send
the URL's credentials (httpx would send them as Basic auth in place of the
configured key): the key still comes from the environment variable, and the
user is told once that the URL's credentials are ignored."""

import json

import pytest

from loom.cli import main
from loom.store import Session

KEY = "sk-url-test-0123456789"
PASSWORD = "hunter2pw"


@pytest.fixture
def work(tmp_path, server_profile, fake_server):
    url = fake_server.url.replace("http://", f"http://alice:{PASSWORD}@")
    server_profile("creds", KEY, base_url=url, max_retries=0)
    return tmp_path, url


def run(capsys, *args) -> tuple[int, str]:
    rc = main([*map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def test_listings_hide_the_password(work, capsys):
    tmp, url = work
    for args in (["config"], ["config", "--json"], ["models"], ["models", "--json"], ["models", "--check", "creds"]):
        rc, out = run(capsys, *args)
        assert PASSWORD not in out, args
        assert "***@127.0.0.1" in out, (args, out)


def test_the_key_is_sent_not_the_url_credentials(work, capsys, fake_server):
    tmp, url = work
    session = tmp / "s.loom"
    assert main(["new", str(session), "--prompt", "Once upon a time"]) == 0
    rc, out = run(capsys, "generate", session, "--model", "creds", "-n", "2", "--max-tokens", "4", "--quiet")
    assert rc == 0, out
    assert all(r["auth"] == f"Bearer {KEY}" for r in fake_server.requests)
    assert "credentials" in out and PASSWORD not in out  # told once that they are not sent
    assert PASSWORD.encode() not in session.read_bytes()


def test_a_refused_key_names_the_server_without_the_password(work, capsys, fake_server, monkeypatch):
    tmp, url = work
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000")
    session = tmp / "s.loom"
    assert main(["new", str(session), "--prompt", "Once"]) == 0
    rc, out = run(capsys, "generate", session, "--model", "creds", "-n", "1", "--max-tokens", "2", "--quiet")
    assert rc == 2 and "401" in out
    assert PASSWORD not in out and "***@" in out


def test_a_model_reference_with_credentials_parses(work, capsys, fake_server):
    tmp, url = work
    ref = f"openai:demo@{url}"
    rc, out = run(capsys, "models", "--check", ref, "--json")
    assert rc == 0, out
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["model"] == "demo" and report["generates"]
    assert PASSWORD not in out
    session = tmp / "r.loom"
    assert main(["new", str(session), "--prompt", "Once upon a time"]) == 0
    rc, out = run(capsys, "generate", session, "--model", ref, "-n", "1", "--max-tokens", "3", "--quiet")
    assert rc == 0, out
    assert PASSWORD not in out and PASSWORD.encode() not in session.read_bytes()
    other = tmp / "m.loom"
    assert main(["new", str(other), "--prompt", "Hi", "--model", ref]) == 0  # loom new --model: the same
    assert PASSWORD.encode() not in other.read_bytes()
    with Session(session) as s:
        assert "demo@" in s.get_state("model")  # the session still knows which server and model


def test_a_reference_without_a_model_is_refused_clearly(work, capsys):
    rc, out = run(capsys, "models", "--check", f"openai:@http://bob:{PASSWORD}@127.0.0.1:9/v1")
    assert rc == 2 and "openai:MODEL" in out and PASSWORD not in out
