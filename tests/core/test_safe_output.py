"""One safe-text rule for every human-facing output of the CLI.

Node text and token texts holding terminal escapes (CSI, OSC title, BEL),
CR, NUL, C1 controls, bidi overrides and lone surrogates reach the terminal
or a document only as visible stand-ins: `loom show`, `loom search`, the
Markdown, text and CSV exports (to standard output and to files), error
messages. `--raw` gives the exact bytes. CSV cells a spreadsheet would
evaluate are neutralised. Data formats (loom JSON, JSONL, --json) stay
exact: JSON escapes what a terminal could act on, and parsing gives the text
back unchanged."""

import csv
import io
import json
import re

import pytest

from loom.cli import main
from loom.textsafe import csv_cell, visible
from loom.tree import Alternative, Token

ESC = "\x1b"
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rover\x00nul\x9b31m\u202eevil\u202c\ud800 \t tab"
# What a terminal or viewer could act on: C0 but newline and tab, DEL, C1, bidi controls, surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@pytest.fixture
def hostile(session):
    root = session.add_node(None, "Prompt: " + HOSTILE, "prompt")
    pieces = ["\x1b[31m", "=1+2", "\r", "\u202e", "@SUM(A1)"]
    toks = [
        Token(p, -0.5, 100 + i, (Alternative(p, -0.5, 100 + i), Alternative("-cmd|' /C calc'!A0", -2.0, 99)))
        for i, p in enumerate(pieces)
    ]
    child = session.add_node(root.id, "".join(pieces), "model", model="demo", tokens=toks)
    session.current = child.id
    return session, root, child


def test_visible_is_the_one_rule():
    shown = visible(HOSTILE, expand_tabs=False)
    assert not UNSAFE.search(shown)
    assert "\t" in shown and "pwned" in shown and "red" in shown and "evil" in shown
    assert visible("a\nb") == "a\nb"


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised():
    for formula in ("=1+2", "+1", "-1+1", "@SUM(A1)", "\tx", '=HYPERLINK("http://e")'):
        assert csv_cell(formula).startswith("'"), formula
    assert csv_cell("plain") == "plain" and csv_cell(" =not first") == " =not first"
    assert csv_cell(-0.5) == -0.5 and csv_cell(3) == 3  # numbers stay numbers
    assert csv_cell("\x1b[31m") == visible("\x1b[31m")


@pytest.mark.parametrize("fmt", ["markdown", "text", "csv"])
def test_documents_are_safe_on_stdout_and_in_files(hostile, tmp_path, fmt, loom_cli):
    s, root, child = hostile
    rc, out, err = loom_cli("export", s.path, "-f", fmt, "--probs")
    assert rc == 0, err
    out = out.replace("\r\n", "\n")  # CSV rows end in CRLF (RFC 4180)
    assert not UNSAFE.search(out), UNSAFE.findall(out)[:5]
    assert "[31m" in out and ("pwned" in out or fmt == "csv")  # the prompt has no tokens, so no CSV row
    target = tmp_path / f"out.{fmt}"
    rc, _, err = loom_cli("export", s.path, "-f", fmt, "--probs", "-o", target, "--quiet")
    assert rc == 0, err
    written = target.read_text(encoding="utf-8", errors="surrogatepass")
    assert not UNSAFE.search(written)
    # --raw: the exact text, escapes and all
    rc, out, _ = loom_cli("export", s.path, "-f", fmt, "--probs", "--raw", "-o", target, "--quiet")
    raw = target.read_text(encoding="utf-8", errors="surrogatepass")
    assert (ESC + "]0;pwned\x07" if fmt != "csv" else ESC + "[31m") in raw


def test_csv_export_neutralises_formulas_and_keeps_numbers(hostile, loom_cli):
    s, root, child = hostile
    rc, out, _ = loom_cli("export", s.path, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    texts = [r["text"] for r in rows]
    assert "'=1+2" in texts and "'@SUM(A1)" in texts
    assert all(r["alt2_text"].startswith("'-cmd") for r in rows)
    assert all(float(r["logprob"]) == -0.5 for r in rows)  # negative numbers are not formulas
    rc, out, _ = loom_cli("export", s.path, "-f", "csv", "--raw")
    assert "=1+2" in [r["text"] for r in csv.DictReader(io.StringIO(out))]


def test_show_and_search_are_safe_and_raw_is_exact(hostile, loom_cli):
    s, root, child = hostile
    for args in (["show", s.path], ["search", s.path, "pwned"], ["show", s.path, "--node", root.id]):
        rc, out, err = loom_cli(*args)
        assert rc == 0, err
        assert not UNSAFE.search(out), (args, UNSAFE.findall(out)[:5])
        assert "pwned" in out


def test_raw_gives_the_exact_bytes(hostile, capsysbinary):
    s, root, child = hostile
    assert main(["show", str(s.path), "--node", str(root.id), "--raw"]) == 0
    out = capsysbinary.readouterr().out
    assert ("Prompt: " + HOSTILE).encode("utf-8", "surrogatepass") in out
    assert main(["export", str(s.path), "-f", "text", "--raw"]) == 0
    assert capsysbinary.readouterr().out == s.path_text(child.id).encode("utf-8", "surrogatepass") + b"\n"


def test_json_output_is_exact_but_inert(hostile, loom_cli):
    s, root, child = hostile
    for args in (["show", s.path, "--node", root.id, "--json"], ["search", s.path, "pwned", "--json"]):
        rc, out, _ = loom_cli(*args)
        assert not UNSAFE.search(out), (args, UNSAFE.findall(out)[:5])
    rc, out, _ = loom_cli("show", s.path, "--node", root.id, "--json")
    assert json.loads(out)["text"] == "Prompt: " + HOSTILE
    rc, out, _ = loom_cli("export", s.path, "-f", "jsonl")
    assert not UNSAFE.search(out)
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["\x1b[31m", "=1+2", "\r", "\u202e", "@SUM(A1)"]


def test_error_messages_are_safe(tmp_path, loom_cli):
    rc, out, err = loom_cli("show", str(tmp_path / "no\x1b]0;x\x07where.loom"))
    assert rc == 2
    assert ESC not in err and "\x07" not in err
