"""Keys typed while the app starts are kept (issue 13, failure 11): `loom NAME` run in a
pseudo-terminal as a person starts it, with keys written to the terminal at once, before the
first screen. A new session opens on the New prompt dialog, and what was typed is in it."""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.startup import Terminal  # noqa: E402

ALT_SCREEN = b"\x1b[?1049h"  # Textual's screen starts here; what comes before is the terminal's echo


def test_text_typed_before_the_first_screen_goes_into_the_new_prompt(tmp_path):
    home = tempfile.mkdtemp(dir=tmp_path)
    term = Terminal(
        [sys.executable, "-m", "loom", "--sessions-dir", str(tmp_path), "fresh", "--model", "no-such-model"],
        env={"HOME": home, "XDG_CONFIG_HOME": home},
    )
    try:
        term.send(b"A tale of")
        assert term.wait(b"New prompt", timeout=120) is not None
        screen = term.out.find(ALT_SCREEN)
        assert screen >= 0
        # the dialog shows the text once its editor has it; the echo before the screen does not count
        found = None
        for _ in range(200):
            found = term.wait(b"A tale of", start=screen, timeout=0.1)
            if found is not None:
                break
            time.sleep(0.05)
        assert found is not None, "the keys typed while the app started were lost"
    finally:
        term.send(b"\x1b")
        term.close()


def test_a_key_typed_before_the_first_screen_moves_on_an_open_session(tmp_path):
    """On a session that has nodes, the keys are played to the main screen as soon as it has shown."""
    from loom.store import Session

    home = tempfile.mkdtemp(dir=tmp_path)
    path = tmp_path / "story.loom"
    with Session(path) as s:
        root = s.add_node(None, "Once upon a time", "prompt").id
        middle = s.add_node(root, " there was", "human").id
        s.current = s.add_node(middle, " a loom.", "human").id
    term = Terminal(
        [sys.executable, "-m", "loom", str(path), "--model", "no-such-model"],
        env={"HOME": home, "XDG_CONFIG_HOME": home},
    )
    try:
        term.send(b"k")
        assert term.wait(f"node {middle} (".encode(), timeout=120) is not None, "the key typed at start was lost"
    finally:
        term.close()
