"""No API key in any file loom writes.

A fake key is set in the environment; the OpenAI-compatible backend talks to
the fake server on 127.0.0.1 (tests/fake_openai_server.py), which requires
that key. Then everything that writes files runs for real: the CLI in this
process and in a subprocess with the openai library's debug log on, a refused
key, a server fault, the app through Pilot with a screenshot, every export
format, `loom config` and `loom models`, a Python log file at DEBUG, and
tracebacks from inside the backend (plain and rich, with locals). Finally
every file under the test's folder is searched for the key."""

import logging
import os
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from loom.cli import main
from loom.store import Session
from loom.tree import GenerationParams

KEY = "sk-loomtest-" + secrets.token_hex(20)


@pytest.fixture
def work(tmp_path, server_profile):
    server_profile("fake", KEY, max_retries=0, timeout=30)
    (tmp_path / "sessions").mkdir()
    return tmp_path


def cli(capsys, out: Path, *args) -> int:
    """Run the CLI in this process; keep what it printed in files, as a shell would."""
    rc = main([*map(str, args)])
    captured = capsys.readouterr()
    with (out.parent / f"{out.name}.stdout").open("a") as fh:
        fh.write(captured.out)
    with (out.parent / f"{out.name}.stderr").open("a") as fh:
        fh.write(captured.err)
    return rc


def files_holding(folder: Path, needle: str) -> list[str]:
    hits = []
    variants = {needle.encode(), needle.encode("utf-16-le"), needle[-16:].encode()}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(v in data for v in variants):
                hits.append(str(path.relative_to(folder)))
    return hits


async def test_no_key_in_any_file_the_run_produced(work, fake_server, capsys, demo_backend, workers_done):
    session = work / "sessions" / "tale.loom"
    out = work / "cli"
    log_file = work / "loom-debug.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root_logger = logging.getLogger()
    old_level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)  # openai, httpx and httpcore log requests at DEBUG
    try:
        assert cli(capsys, out, "new", session, "--prompt", "Once upon a time") == 0
        assert (
            cli(
                capsys,
                out,
                "generate",
                session,
                "--model",
                "fake",
                "-n",
                "2",
                "--max-tokens",
                "4",
                "--seed",
                "1",
                "--json",
            )
            == 0
        )
        assert len(fake_server.requests) >= 1 and all(r["auth"] == f"Bearer {KEY}" for r in fake_server.requests)
        # a refused key and a broken server: the error messages are written too
        fake_server.api_key = "sk-another-key"
        assert cli(capsys, out, "generate", session, "--model", "fake", "-n", "1", "--max-tokens", "2") == 2
        fake_server.api_key, fake_server.fault = KEY, "500"
        assert cli(capsys, out, "generate", session, "--model", "fake", "-n", "1", "--max-tokens", "2") == 2
        fake_server.fault = None
        # settings and model listings
        assert cli(capsys, out, "config", "--json") == 0
        assert cli(capsys, out, "models", "--json") == 0
        # every export format
        for fmt, suffix in (
            ("loom-json", "json"),
            ("socketteer", "json"),
            ("markdown", "md"),
            ("text", "txt"),
            ("html", "html"),
            ("ansi", "ansi"),
            ("jsonl", "jsonl"),
            ("csv", "csv"),
        ):
            assert (
                cli(capsys, out, "export", session, "--format", fmt, "-o", work / f"export-{fmt}.{suffix}", "--quiet")
                == 0
            )
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(old_level)
        handler.close()
    assert log_file.stat().st_size > 0

    # a separate process with the openai library's own debug log on
    env = {**os.environ, "OPENAI_LOG": "debug", "HF_HUB_OFFLINE": "1"}
    with (work / "subprocess.stdout").open("w") as so, (work / "subprocess.stderr").open("w") as se:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "loom",
                "generate",
                str(session),
                "--model",
                "fake",
                "-n",
                "1",
                "--max-tokens",
                "3",
                "--json",
            ],
            env=env,
            stdout=so,
            stderr=se,
            timeout=120,
        )
    assert proc.returncode == 0, (work / "subprocess.stderr").read_text()

    # tracebacks from inside the backend, as a crash report would show them (rich: with locals)
    from rich.console import Console
    from rich.traceback import Traceback

    from loom.backends import open_backend

    backend = open_backend("fake")
    try:
        list(backend.generate("Once", GenerationParams(n=1, max_tokens=2), cancel="not an event"))
    except Exception:
        (work / "traceback.txt").write_text(traceback.format_exc())
        with (work / "traceback-rich.txt").open("w") as fh:
            Console(file=fh, width=200).print(Traceback(show_locals=True))
    assert (work / "traceback.txt").exists(), "the backend should have failed on a bad cancel object"

    # the app, generating through the fake server, then a screenshot
    from loom.ui.app import LoomApp

    s = Session(session)
    s.set_state("params", GenerationParams(n=2, max_tokens=3, seed=4).to_dict())
    app = LoomApp(s, backend=backend)
    async with app.run_test(size=(140, 40)) as pilot:
        before = s.count()
        await pilot.press("g")
        await workers_done(pilot)
        assert s.count() == before + 2
        fake_server.api_key = "sk-another-key"  # a refused key shows an error in the app
        await pilot.press("g")
        await workers_done(pilot)
        app.save_screenshot(filename="app.svg", path=str(work))
    s.close()
    assert (work / "app.svg").exists()

    produced = [p for p in work.rglob("*") if p.is_file()]
    assert len(produced) >= 15, sorted(str(p.relative_to(work)) for p in produced)
    assert any(p.suffix == ".loom" for p in produced)
    assert files_holding(work, KEY) == []
    # the search itself works: a file with the key is found
    (work / "canary.txt").write_text(f"key={KEY}")
    assert files_holding(work, KEY) == ["canary.txt"]
