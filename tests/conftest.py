"""Fixtures every folder uses: the bundled models, a session file, the fake
OpenAI-compatible server, and loom's CLI run in this process or as a process.
Each folder's conftest.py holds what only its tests share."""

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any, NamedTuple

import pytest

# Tests never reach a hub: everything is local or on 127.0.0.1.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def demo_backend():
    """The bundled demo model through the real transformers loading code, loaded
    once: the one the app, the CLI and the API share in this process."""
    from loom.experiments.models import open_model

    return open_model("demo")


@pytest.fixture(scope="session")
def wedding():
    """The bundled demo-wedding model (tuned, with a wedding attractor), loaded
    once and shared the same way."""
    from loom.experiments.models import open_model

    return open_model("demo-wedding")


@pytest.fixture
def session(tmp_path):
    from loom.store import Session

    with Session(tmp_path / "test.loom") as s:
        yield s


@pytest.fixture
def hello_app(session, demo_backend):
    """The app (not yet running) on `session` holding one prompt, "Hello", with the demo model."""
    from loom.ui.app import LoomApp

    session.add_node(None, "Hello", "prompt")
    return LoomApp(session, backend=demo_backend)


@pytest.fixture(scope="module")
def _fake_server_running(demo_backend):
    from fake_openai_server import FakeOpenAI

    with FakeOpenAI(demo_backend) as srv:
        yield srv


@pytest.fixture
def fake_server(_fake_server_running):
    """The loopback OpenAI-compatible server (tests/fake_openai_server.py) on the
    demo model: one per test module, back to a well-behaved vLLM-like server
    (no faults, no key, no requests seen) for every test."""
    server = _fake_server_running
    # A reply the last test left running (a hang, a stream its client dropped) would
    # count in this one: take this test's fault or push its in-flight count below zero.
    end = time.monotonic() + 30
    while server.in_flight > 0 and time.monotonic() < end:
        time.sleep(0.01)
    server.reset()
    return server


class Ran(NamedTuple):
    """What one run of the CLI returned and printed."""

    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def loom_cli(capsys):
    """loom's CLI entry point in this process: loom_cli(*args) -> Ran(rc, out, err)."""
    from loom.cli import main

    def run(*args) -> Ran:
        rc = main([*map(str, args)])
        cap = capsys.readouterr()
        return Ran(rc, cap.out, cap.err)

    return run


@pytest.fixture(scope="session")
def loom_process():
    """A real `python -m loom` process with its sessions folder in `folder`:
    loom_process(folder, *args, check=True, stdin=None) -> CompletedProcess (text);
    with check, a non-zero exit fails the test with its stderr."""

    def run(folder, *args, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [sys.executable, "-m", "loom", "--sessions-dir", str(folder), *map(str, args)],
            capture_output=True,
            text=True,
            input=stdin,
        )
        if check:
            assert out.returncode == 0, out.stderr
        return out

    return run


@pytest.fixture
def workers_done():
    """await workers_done(pilot): every worker the app has running (a generation, a
    model loading, an experiment) has ended and what it posted has been handled:
    Textual's WorkerManager.wait_for_complete, then Pilot.pause."""

    async def wait(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return wait


@pytest.fixture
def wait_until():
    """await wait_until(pilot, condition, what, timeout=60): Pilot pauses until
    condition() holds, for what no worker or Textual waiter marks (the app's live
    poll, branches while they grow, another process). The timeout only stops a
    hang, with `what` in the message; no test measures time."""

    async def wait(pilot, condition, what: str, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not condition():
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}")
            await pilot.pause(0.05)

    return wait
