"""Paths as Markdown and plain text (optionally with probabilities), and token
tables as JSONL and CSV."""

import csv
import io
import json
import math

import pytest

from loom.cli import main
from loom.io.text import path_markdown, path_text, token_rows, write_csv, write_jsonl
from loom.tree import Alternative, Token

TOKENS = [
    Token(" a|b", math.log(0.5), 11, (Alternative(" a|b", math.log(0.5), 11), Alternative(" `x`", math.log(0.25), 12))),
    Token("\n", math.log(0.9), 13, (Alternative("\n", math.log(0.9), 13),)),
    Token("``code``", math.log(0.001), 14, ()),
]


@pytest.fixture
def tree(session):
    root = session.add_node(None, "Title: *not emphasis*\n```\n", "prompt")
    mid = session.add_node(root.id, "".join(t.text for t in TOKENS), "model", model="demo", tokens=TOKENS)
    leaf = session.add_node(mid.id, " the end", "human")
    other = session.add_node(root.id, " other", "model", model="demo", tokens=[Token(" other", -0.1, 3)])
    session.current = leaf.id
    return session, root, mid, leaf, other


def test_markdown_keeps_the_text_verbatim(tree):
    s, root, mid, leaf, _ = tree
    md = path_markdown(s, leaf.id)
    assert md.startswith(f"# {s.name}\n")
    full = s.path_text(leaf.id)
    body = md.split("\n", 4)[4]
    fence = body.split("text\n", 1)[0]
    assert len(fence) >= 4 and set(fence) == {"`"}  # longer than any backtick run in the text
    assert body.split("text\n", 1)[1].rsplit("\n" + fence, 1)[0] == full.rstrip("\n")
    assert "Token probabilities" not in md


def test_markdown_probability_table(tree):
    s, root, mid, leaf, _ = tree
    md = path_markdown(s, leaf.id, probs=True)
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| node")]
    assert len(table) == len(TOKENS)
    for line in table:  # escaped pipes keep every row at the header's column count
        assert line.replace("\\|", "").count("|") == 8
    assert "50.0%" in table[0] and "25.0%" in table[0]
    assert "\\n" in table[1]  # a newline token is shown, not printed
    assert "1.0e-03" in table[2]


def test_plain_text_with_and_without_probs(tree):
    s, root, mid, leaf, other = tree
    assert path_text(s, leaf.id) == s.path_text(leaf.id) + "\n"
    with_probs = path_text(s, leaf.id, probs=True)
    assert with_probs.startswith(s.path_text(leaf.id).rstrip("\n"))
    rows = [line for line in with_probs.splitlines() if line.startswith(f"{mid.id:>6} ")]
    assert len(rows) == len(TOKENS) and "50.0%" in rows[0] and "90.0%" in rows[1]
    assert "no node on this path has token data" in path_text(s, root.id, probs=True)


def test_jsonl_rows_for_a_subtree(tree):
    s, root, mid, leaf, other = tree
    buf = io.StringIO()
    assert write_jsonl(token_rows(s, root.id), buf) == len(TOKENS) + 1
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r["node"] for r in rows] == [mid.id] * 3 + [other.id]
    assert rows[0]["text"] == " a|b" and rows[0]["prob"] == pytest.approx(
        0.5, abs=1e-4
    )  # logprobs are kept to 1e-4 nats
    assert [a["text"] for a in rows[0]["alternatives"]] == [" a|b", " `x`"]
    assert [r["offset"] for r in rows[:3]] == [0, 4, 5]
    buf = io.StringIO()
    assert write_jsonl(token_rows(s, other.id), buf) == 1


def test_csv_has_flat_alternative_columns(tree):
    s, root, mid, leaf, other = tree
    buf = io.StringIO()
    write_csv(token_rows(s), buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert len(rows) == 4
    assert rows[1]["text"] == "\n" and rows[0]["alt2_text"] == " `x`"
    assert float(rows[0]["alt2_logprob"]) == pytest.approx(math.log(0.25), abs=1e-3)
    assert rows[2]["alt1_text"] == ""  # a token without alternatives leaves the columns empty


def test_cli_export_formats(tree, tmp_path, capsys):
    s, root, mid, leaf, other = tree
    path = str(s.path)
    assert main(["export", path, "-f", "markdown", "--probs"]) == 0  # the current node's path
    out = capsys.readouterr().out
    assert " the end" in out and "Token probabilities" in out
    assert main(["export", path, "-f", "text", "--node", str(other.id)]) == 0
    assert capsys.readouterr().out == s.path_text(other.id) + "\n"
    target = tmp_path / "t.csv"
    assert main(["export", path, "-f", "csv", "-o", str(target), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == 4 and target.read_text().startswith("node,parent")
    assert main(["export", path, "-f", "jsonl", "--node", "999"]) == 2
    assert "no node 999" in capsys.readouterr().err
