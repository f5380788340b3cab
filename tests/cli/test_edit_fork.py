"""Headless perturbations through the real CLI (`python -m loom` on real files)
and the Python API: `loom edit` and `loom fork` make a new sibling derived
from the original, continue it with --generate, and refuse bad input with one
line and exit status 2, leaving the session file byte for byte as it was."""

import json
import math
import shutil

import pytest

import loom

PROMPT = "The fox went to the farm. It was hungry."


def as_json(out):
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def made(tmp_path_factory, loom_process):
    """A session with a prompt (node 1) and one model branch (node 2) with tokens and alternatives."""
    folder = tmp_path_factory.mktemp("made")
    loom_process(folder, "new", "tale", "--prompt", PROMPT, "--model", "demo")
    loom_process(folder, "generate", "tale", "-n", "1", "--max-tokens", "12", "--seed", "4")
    return folder


@pytest.fixture
def tale(made, tmp_path):
    """A fresh copy of that session for each test."""
    shutil.copy(made / "tale.loom", tmp_path / "tale.loom")
    return tmp_path


@pytest.fixture
def show(loom_process):
    """show(folder, node): `loom show tale --node N --tokens --json`, parsed."""
    return lambda folder, node: as_json(loom_process(folder, "show", "tale", "--node", node, "--tokens", "--json"))


def test_edit_replaces_a_substring_as_a_new_sibling_and_regenerates(tale, loom_process, show):
    r = as_json(
        loom_process(
            tale,
            "edit",
            "tale",
            "--node",
            1,
            "--replace",
            "fox",
            "--with",
            "wolf",
            "--generate",
            "-n",
            2,
            "--max-tokens",
            6,
            "--seed",
            1,
            "--json",
        )
    )
    assert r["id"] == 3 and r["how"] == "edit" and r["from"] == 1
    assert r["change"] == {"replace": "fox", "with": "wolf", "count": 1}
    new = show(tale, r["id"])
    assert new["text"] == PROMPT.replace("fox", "wolf")
    assert new["node"]["derived_from"] == 1 and new["node"]["author"] == "prompt"
    assert new["node"]["meta"]["edit"] == {"from": 1, "replace": "fox", "with": "wolf", "count": 1}
    assert [g["parent"] for g in r["generated"]] == [3, 3]
    assert [g["params"]["seed"] for g in r["generated"]] == [1, 2]
    # the original stays, with its branch
    assert show(tale, 1)["text"] == PROMPT and [c["id"] for c in show(tale, 1)["children"]] == [2]
    # the human line leads with the new node's id
    out = loom_process(tale, "edit", "tale", "--node", 1, "--replace", "hungry", "--with", "tired").stdout
    assert out.startswith("node 6: edit of node 1: 'hungry' -> 'tired'")


def test_edit_takes_text_from_a_flag_a_file_or_standard_input(tale, loom_process, show):
    r = as_json(loom_process(tale, "edit", "tale", "--node", 2, "--text", " And then it slept.", "--json"))
    assert show(tale, r["id"])["node"]["author"] == "edit"
    text = "Line one\r\nline two\n"  # exactly, line ends too
    f = tale / "new.txt"
    f.write_bytes(text.encode())
    r = as_json(loom_process(tale, "edit", "tale", "--node", 1, "--text-file", f, "--json"))
    assert show(tale, r["id"])["text"] == text
    r = as_json(loom_process(tale, "edit", "tale", "--node", 1, "--text-file", "-", "--json", stdin="From stdin."))
    assert show(tale, r["id"])["text"] == "From stdin."


def test_fork_puts_a_stored_alternative_at_a_token(tale, loom_process, show):
    original = show(tale, 2)["node"]
    toks = original["tokens"]
    i = 3
    second = toks[i]["top"][1]
    r = as_json(loom_process(tale, "fork", "tale", "--node", 2, "--token", i, "--alt-rank", 2, "--json"))
    assert r["how"] == "fork" and r["from"] == 2 and r["parent"] == 1
    new = show(tale, r["id"])["node"]
    assert [t["id"] for t in new["tokens"]] == [t["id"] for t in toks[:i]] + [second["id"]]
    assert new["tokens"][i]["logprob"] == pytest.approx(second["logprob"], abs=1e-3)  # the model's own
    assert new["derived_from"] == 2 and new["meta"]["fork"]["token"] == i
    assert r["change"]["rank"] == 2 and r["change"]["now"] == second["text"]
    # by its text, continued at once
    alt = toks[0]["top"][2]
    r = as_json(
        loom_process(
            tale,
            "fork",
            "tale",
            "--node",
            2,
            "--token",
            0,
            "--alt",
            alt["text"],
            "--generate",
            "-n",
            1,
            "--max-tokens",
            5,
            "--seed",
            2,
            "--json",
        )
    )
    assert r["node"]["text"] == alt["text"] and r["change"]["rank"] == 3
    assert len(r["generated"]) == 1 and r["generated"][0]["parent"] == r["id"]


BAD = [
    (["edit", "tale", "--node", 99, "--text", "x"], "no node 99"),
    (["edit", "tale", "--node", 1, "--replace", "cat", "--with", "dog"], "does not contain 'cat'"),
    (["edit", "tale", "--node", 1, "--replace", "fox"], "--replace OLD needs --with"),
    (["edit", "tale", "--node", 1, "--text", ""], "empty"),
    (["edit", "tale", "--node", 1, "--text-file", "/no/such/file"], "cannot be read"),
    (["edit", "tale", "--node", 1, "--text", "x", "-n", 3], "only applies with --generate"),
    (["edit", "tale", "--node", 1, "--text", "x", "--generate", "--cap", 0], "cap must be"),
    (["edit", "tale", "--node", 1, "--text", "x", "--generate", "--model", "/no/such/model"], "never downloads"),
    (["fork", "tale", "--node", 2, "--token", 99, "--alt-rank", 1], "token must be from 0 to 11"),
    (["fork", "tale", "--node", 2, "--token", -1, "--alt-rank", 1], "token must be from 0"),
    (["fork", "tale", "--node", 2, "--token", 0, "--alt-rank", 11], "rank must be from 1 to 10"),
    (["fork", "tale", "--node", 2, "--token", 0, "--alt", "no such token"], "no stored alternative 'no such token'"),
    (["fork", "tale", "--node", 1, "--token", 0, "--alt-rank", 1], "node 1 has no tokens to fork at (a prompt)"),
    (["fork", "tale", "--node", 2, "--token", 0, "--alt-rank", 1, "--generate", "--temperature", -1], "temperature"),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(map(str, a[2:])) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(tale, args, words, loom_process):
    path = tale / "tale.loom"
    before = path.read_bytes()
    out = loom_process(tale, *args, check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("loom: error: ") and out.stderr.count("\n") == 1 and words in out.stderr, out.stderr
    assert out.stdout == ""
    assert path.read_bytes() == before


def test_argument_errors_exit_2(tale, loom_process):
    for args in (
        ["fork", "tale", "--node", 2, "--alt-rank", 1],  # no --token
        ["fork", "tale", "--token", 0, "--alt", "x", "--alt-rank", 1],  # both
        ["edit", "tale", "--text", "x", "--replace", "y"],
    ):
        assert loom_process(tale, *args, check=False).returncode == 2


def test_the_python_api_makes_the_same_nodes(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("t", PROMPT, model="demo")
    child = loom.generate(s, n=1, max_tokens=8, seed=4, progress=False).nodes[0]
    e = loom.edit(s, 1, replace=("farm", "mill"), generate=True, n=2, max_tokens=4, seed=1, progress=False)
    assert isinstance(e, loom.Perturbation) and e.node.text == PROMPT.replace("farm", "mill")
    assert [r["role"] for r in e.rows()] == ["perturbed", "continuation", "continuation"]
    assert all(r["mean_logprob"] is None or math.isfinite(r["mean_logprob"]) for r in e.rows())
    f = loom.fork(s, child.id, 1, rank=2, progress=False)
    assert f.node.tokens[1].token_id == child.tokens[1].alternatives[1].token_id and f.node.derived_from == child.id
    count = s.count()
    with pytest.raises(loom.EditError, match="rank must be"):
        loom.fork(s, child.id, 1, rank=50)
    with pytest.raises(loom.EditError, match="does not contain"):
        loom.edit(s, 1, replace=("zebra", "x"))
    with pytest.raises(TypeError, match="only with generate=True"):
        loom.edit(s, 1, "x", n=2)
    assert s.count() == count
