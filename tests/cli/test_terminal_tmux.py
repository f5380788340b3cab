"""A hostile tree through every command that prints text, on a real terminal (tmux).

Node text, token texts, tags and notes hold an OSC title sequence, a screen
clear, colours, a carriage return, BEL, C1 CSI and bidi overrides. After each
command the pane must still have its title, the line printed before the
command must still be on the screen (nothing cleared or overwritten), and no
colour or other attribute may be set: the terminal shows the text and
nothing else. Skipped where tmux is not installed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from loom.store import Session
from loom.tree import Alternative, Token

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

EVIL = "\x1b]0;PWNED\x07\x1b[2J\x1b[H\x1b[41mred\x1b[0m\rOVER\x07\x9b7m\u202eevil\u202c\x1b]8;;http://x\x1b\\link"


# a socket of this run's own: two test runs at once (or one killed earlier) never share a server
SOCKET = f"loomtest-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def pane(tmp_path):
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", "bash --norc --noprofile")
    tmux("set-option", "-t", "t", "allow-rename", "on")
    tmux("set-option", "-t", "t", "set-titles", "on")
    tmux("set-window-option", "-t", "t", "allow-passthrough", "off")
    try:
        yield
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)


def run_in_pane(command: str, marker: str, timeout: float = 60) -> None:
    # the markers are typed split in two, so only their output (not the echoed command line) matches
    tmux(
        "send-keys",
        "-t",
        "t",
        "clear; printf '\\033]0;CLEAN\\007'; echo BEGIN'-'" + marker + "; " + command + "; echo DONE'-'" + marker,
        "Enter",
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "DONE-" + marker in tmux("capture-pane", "-t", "t", "-p", "-S", "-2000"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{command} did not finish")


@pytest.fixture
def hostile(tmp_path):
    path = tmp_path / "evil.loom"
    with Session(path) as s:
        root = s.add_node(None, "Prompt " + EVIL, "prompt")
        pieces = [" a", EVIL, " b"]
        toks = [
            Token(p, -0.5, 10 + i, (Alternative(p, -0.5, 10 + i), Alternative(EVIL, -2.0, 99)))
            for i, p in enumerate(pieces)
        ]
        node = s.add_node(root.id, "".join(pieces), "model", model=EVIL, tokens=toks)
        s.add_tag(node.id, EVIL)
        s.set_note(node.id, EVIL)
        s.current = node.id
    return path, node.id


def test_nothing_but_text_reaches_the_terminal(pane, hostile, tmp_path):
    path, node = hostile
    loom = f"{shlex.quote(sys.executable)} -m loom --sessions-dir {shlex.quote(str(tmp_path))}"
    p = shlex.quote(str(path))
    commands = [
        f"show {p}",
        f"show {p} --tokens --json",
        f"search {p} evil",
        f"search {p} evil --json",
        f"tag {p} --list",
        f"tag {p} --node {node}",
        "sessions",
        f"export {p} -f markdown --probs",
        f"export {p} -f text --probs",
        f"export {p} -f csv",
        f"export {p} -f jsonl",
        f"export {p} -f loom-json",
        f"export {p} -f socketteer",
        f"show {shlex.quote(str(tmp_path / ('no' + chr(27) + ']0;PWNED' + chr(7) + '.loom')))}",
    ]
    for i, command in enumerate(commands):
        marker = f"MARK{i}"
        run_in_pane(f"{loom} {command}", marker)
        title = tmux("display-message", "-t", "t", "-p", "#{pane_title}").strip()
        assert title == "CLEAN", f"`loom {command}` set the title to {title!r}"
        screen = tmux("capture-pane", "-t", "t", "-p", "-S", "-2000")
        assert "BEGIN-" + marker in screen, f"`loom {command}` cleared or overwrote the screen"
        styled = tmux("capture-pane", "-t", "t", "-p", "-e", "-S", "-2000")
        assert "\x1b[" not in styled.replace("\x1b[0m", "").replace("\x1b[39m", "").replace("\x1b[49m", ""), (
            f"`loom {command}` set colours or attributes: {styled[styled.find(chr(27)) :][:40]!r}"
        )
        assert (
            "PWNED" in screen
            or "tag" in command
            or "sessions" in command
            or "search" in command
            or "csv" in command
            or "jsonl" in command
        ), f"`loom {command}` hid the text"


def test_opening_a_new_session_and_quitting_leaves_no_file(pane, tmp_path):
    """`loom NAME` on a name that does not exist, then q: no empty session file stays behind."""
    loom = f"{shlex.quote(sys.executable)} -m loom --sessions-dir {shlex.quote(str(tmp_path / 's'))}"
    tmux("send-keys", "-t", "t", f"{loom} fresh; echo EXIT'-'$?", "Enter")
    deadline = time.time() + 120
    while time.time() < deadline and "New prompt" not in tmux("capture-pane", "-t", "t", "-p"):
        time.sleep(0.3)  # an empty session opens on the new-prompt dialog
    assert (tmp_path / "s" / "fresh.loom").exists()  # the app made it on opening
    tmux("send-keys", "-t", "t", "Escape")
    while time.time() < deadline and "New prompt" in tmux("capture-pane", "-t", "t", "-p"):
        time.sleep(0.3)
    tmux("send-keys", "-t", "t", "q")
    while time.time() < deadline and "EXIT-0" not in tmux("capture-pane", "-t", "t", "-p"):
        time.sleep(0.3)
    assert "EXIT-0" in tmux("capture-pane", "-t", "t", "-p")
    assert not list((tmp_path / "s").glob("fresh.loom*"))
