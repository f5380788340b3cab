"""Import of the original loom's JSON (socketteer/loom): the real demo file, and
files with token data made here, and export back to that format."""

import copy
import json
import math

import pytest
from socketteer_files import PEERS_DEMO as DEMO

from loom.cli import main
from loom.io import TreeFormatError, import_file
from loom.io.socketteer import export_data, import_data
from loom.store import Session


def walk(node, depth=0):
    yield node, depth
    for c in node.get("children", []):
        yield from walk(c, depth + 1)


@pytest.fixture(scope="module")
def demo_data():
    return json.loads(DEMO.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory, demo_data):
    s = Session(tmp_path_factory.mktemp("demo") / "demo.loom")
    summary = import_file(s, DEMO)
    yield s, summary
    s.close()


def test_demo_file_all_nodes_and_depth(demo_session, demo_data):
    s, summary = demo_session
    assert summary["nodes"] == s.count() == 764
    assert summary["max_depth"] == 21
    deepest = max(len(s.ancestry(i)) - 1 for i in s.all_ids())
    assert deepest == 21
    assert len(s.roots()) == 1


def test_demo_file_texts_shape_and_tags(demo_session, demo_data):
    s, _ = demo_session
    by_sid = {s.node(i).meta["socketteer"]["id"]: i for i in s.all_ids()}
    for orig, _ in walk(demo_data["root"]):
        nid = by_sid[orig["id"]]
        node = s.node(nid)
        assert node.text == orig["text"]
        assert [s.node(c).meta["socketteer"]["id"] for c in s.child_ids(nid)] == [c["id"] for c in orig["children"]]
        assert set(orig.get("tags", [])) <= set(s.tags(nid))
    counts = s.all_tags()
    assert counts["bookmark"] == 22 and counts["demo"] == 302 and counts["archived"] == 106
    # chapters become chapter:<title> tags on the nodes that start them
    chapter_nodes = [o for o, _ in walk(demo_data["root"]) if o.get("chapter_id") in demo_data["chapters"]]
    assert chapter_nodes
    for o in chapter_nodes:
        title = demo_data["chapters"][o["chapter_id"]]["title"]
        assert f"chapter:{title}" in s.tags(by_sid[o["id"]])
    # the file's selected node is the session's current node
    assert s.node(s.current).meta["socketteer"]["id"] == demo_data["selected_node_id"]


def test_demo_file_exports_back_unchanged(demo_session, demo_data):
    s, _ = demo_session
    assert export_data(s) == demo_data


def test_bare_root_node_and_list_of_children(tmp_path):
    node = {
        "id": "r",
        "text": "Once",
        "children": [
            {"id": "a", "text": " upon", "children": []},
            {"id": "b", "text": " a", "children": [{"id": "c", "text": " time"}]},
        ],
    }
    (tmp_path / "node.json").write_text(json.dumps(node))
    (tmp_path / "list.json").write_text(json.dumps(node["children"]))
    with Session(tmp_path / "n.loom") as s:
        import_file(s, tmp_path / "node.json")
        assert s.count() == 4
        leaf = next(i for i in s.all_ids() if s.node(i).text == " time")
        assert s.path_text(leaf) == "Once a time"
        assert s.node(s.roots()[0].id).author == "prompt"
    with Session(tmp_path / "l.loom") as s:
        import_file(s, tmp_path / "list.json")
        root = s.roots()[0]
        assert root.text == "" and [c.text for c in s.children(root.id)] == [" upon", " a"]


def token_file():
    """A small tree in the original format with a model response holding token data."""

    def tok(text, lp, cf):
        return {"generatedToken": {"token": text, "logprob": lp}, "position": 0, "counterfactuals": cf}

    return {
        "root": {
            "id": "root",
            "text": "The cat",
            "meta": {"source": "prompt"},
            "children": [
                {
                    "id": "g0",
                    "text": " sat on",
                    "generation": {"id": "cmpl-1", "index": 0},
                    "meta": {"source": "AI", "creation_timestamp": "2021-09-15-13.02.19"},
                    "tags": ["bookmark"],
                    "children": [],
                },
                {
                    "id": "g1",
                    "text": "\n ran off",
                    "generation": {"id": "cmpl-1", "index": 1},
                    "meta": {"source": "AI"},
                    "children": [],
                },
                {
                    "id": "g2",
                    "text": " was edited",
                    "generation": {"id": "cmpl-1", "index": 2},
                    "meta": {"source": "mixed"},
                    "children": [],
                },
            ],
        },
        "model_responses": {
            "cmpl-1": {
                "id": "cmpl-1",
                "model": "davinci",
                "timestamp": "2021-09-15-13.02.19",
                "prompt": {"text": "The cat", "tokens": None},
                "completions": [
                    {
                        "text": " sat on",
                        "finishReason": "length",
                        "tokens": [
                            tok(" sat", -0.5, {" sat": -0.5, " ran": -1.5, " was": -2.25}),
                            tok(" on", -0.125, {" in": -3.0, " on": -0.125}),
                        ],
                    },
                    {
                        "text": " ran off",
                        "finishReason": "stop",
                        "tokens": [tok(" ran", -1.5, {" sat": -0.5, " ran": -1.5}), tok(" off", -0.75, None)],
                    },
                    {"text": " slept", "finishReason": "length", "tokens": [tok(" slept", -4.0, {" sat": -0.5})]},
                ],
            }
        },
        "chapters": {},
        "tags": {"bookmark": {"name": "bookmark", "scope": "node"}},
    }


def test_token_data_maps_onto_loom_tokens(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(token_file()))
    with Session(tmp_path / "t.loom") as s:
        summary = import_file(s, path)
        assert summary["nodes_with_tokens"] == 2 and summary["tokens_dropped"] == 1
        sat, ran, edited = s.children(s.roots()[0].id, with_tokens=True)
        assert sat.author == "model" and sat.model == "davinci"
        assert [t.text for t in sat.tokens] == [" sat", " on"]
        assert all(t.token_id is None for t in sat.tokens)
        assert sat.tokens[0].logprob == pytest.approx(-0.5)
        # counterfactuals become alternatives, most likely first
        assert [(a.text, a.logprob) for a in sat.tokens[0].alternatives] == [
            (" sat", -0.5),
            (" ran", -1.5),
            (" was", -2.25),
        ]
        assert [a.text for a in sat.tokens[1].alternatives] == [" on", " in"]
        assert all(a.token_id is None for t in sat.tokens for a in t.alternatives)
        assert sat.created == pytest.approx(1631710939.0)
        assert "bookmark" in s.tags(sat.id)
        # text the original put before the completion ("start" text) is a token without a probability
        assert [t.text for t in ran.tokens] == ["\n", " ran", " off"] and ran.tokens[0].logprob is None
        assert ran.tokens[2].alternatives == ()
        assert ran.mean_prob == pytest.approx((math.exp(-1.5) + math.exp(-0.75)) / 2, rel=1e-5)
        # an edited node keeps its text, not tokens that no longer match it
        assert edited.tokens is None and edited.author == "edit"


def test_tokens_survive_export_and_reimport(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(token_file()))
    with Session(tmp_path / "a.loom") as a, Session(tmp_path / "b.loom") as b:
        import_file(a, path)
        out = export_data(a)
        resp = out["model_responses"]["cmpl-1"]
        assert [c["text"] for c in resp["completions"][:2]] == [" sat on", " ran off"]  # as the file had them
        assert resp["completions"][0]["tokens"][0]["counterfactuals"] == {" sat": -0.5, " ran": -1.5, " was": -2.25}
        import_data(b, copy.deepcopy(out))
        for x, y in zip(a.all_ids(), b.all_ids()):
            na, nb = a.node(x), b.node(y)
            assert (na.text, na.author, na.model, na.tokens, a.tags(x)) == (
                nb.text,
                nb.author,
                nb.model,
                nb.tokens,
                b.tags(y),
            )
        assert export_data(b) == out


def byte_token_file():
    """OpenAI's way with tokens inside a character: `bytes:\\xe2\\x98` pieces; and a completion
    that runs past <|endoftext|> (the node's text stops there)."""

    def tok(text, lp, cf=None):
        return {
            "generatedToken": {"token": text, "logprob": lp},
            "position": {"start": 0, "end": 0},
            "counterfactuals": cf,
        }

    toks = [
        tok(" caf", -0.5, {" caf": -0.5, " tea": -1.0}),
        tok("bytes:\\xc3", -0.25, {"bytes:\\xc3": -0.25}),
        tok("bytes:\\xa9", -0.01, {"bytes:\\xa9": -0.01, "e": -5.0}),
        tok(" ", -0.3),
        tok("bytes:\\xe2\\x98", -0.7),
        tok("bytes:\\x95", -0.02),
        tok(" end", -0.4),
        tok("<|endoftext|>", -0.1),
        tok(" junk", -3.0),
        tok(" more", -2.0),
    ]
    return {
        "root": {
            "id": "root",
            "text": "Order:",
            "children": [
                {
                    "id": "b0",
                    "text": " café ☕ end",
                    "generation": {"id": "cmpl-b", "index": 0},
                    "meta": {"source": "AI"},
                    "children": [],
                }
            ],
        },
        "model_responses": {
            "cmpl-b": {
                "id": "cmpl-b",
                "model": "davinci",
                "prompt": {"text": "Order:", "tokens": None},
                "completions": [{"text": " café ☕ end", "finishReason": "stop", "tokens": toks}],
            }
        },
    }


def test_partial_utf8_byte_tokens_are_joined_and_end_of_text_ends(tmp_path):
    path = tmp_path / "bytes.json"
    path.write_text(json.dumps(byte_token_file()))
    with Session(tmp_path / "b.loom") as s:
        summary = import_file(s, path)
        assert summary["nodes_with_tokens"] == 1 and summary["tokens_dropped"] == 0
        node = s.children(s.roots()[0].id, with_tokens=True)[0]
        assert node.author == "model" and "".join(t.text for t in node.tokens) == " café ☕ end"
        # the token that completes a character carries it; the pieces before it are empty
        assert [t.text for t in node.tokens] == [" caf", "", "é", " ", "", "☕", " end"]
        assert [t.logprob for t in node.tokens] == pytest.approx([-0.5, -0.25, -0.01, -0.3, -0.7, -0.02, -0.4])
        assert [a.text for a in node.tokens[2].alternatives] == ["é", "e"]  # decoded with the open byte before it
        out = export_data(s)
    # exported as the file had it: byte tokens, end of text and what followed
    assert (
        out["model_responses"]["cmpl-b"]["completions"][0]
        == byte_token_file()["model_responses"]["cmpl-b"]["completions"][0]
    )


def test_loom_nodes_export_and_come_back(tmp_path, session):
    from loom.tree import Alternative, Token

    root = session.add_node(None, "Hello", "prompt")
    toks = [
        Token(" wor", -0.25, 17, (Alternative(" wor", -0.25, 17), Alternative(" fri", -2.0, 30))),
        Token("ld", -0.0625, 5),
    ]
    gen = session.add_node(root.id, " world", "model", model="demo", params={"n": 2, "temperature": 0.7}, tokens=toks)
    session.add_node(root.id, " there", "human")
    session.add_tag(gen.id, "attractor")
    out = export_data(session)
    child = out["root"]["children"][0]
    assert child["meta"]["source"] == "AI" and child["tags"] == ["attractor"]
    assert out["model_responses"][child["generation"]["id"]]["completions"][0]["tokens"][1]["generatedToken"] == {
        "token": "ld",
        "logprob": -0.0625,
    }
    with Session(tmp_path / "back.loom") as back:
        import_data(back, json.loads(json.dumps(out)))
        g = back.children(back.roots()[0].id, with_tokens=True)[0]
        assert (g.text, g.author, g.model, g.params) == (" world", "model", "demo", {"n": 2, "temperature": 0.7})
        assert [(t.text, t.logprob, [a.text for a in t.alternatives]) for t in g.tokens] == [
            (" wor", -0.25, [" wor", " fri"]),
            ("ld", -0.0625, []),
        ]
        assert back.tags(g.id) == ["attractor"]
        assert export_data(back) == out  # and a second trip changes nothing


def test_import_as_subtree_of_a_node(tmp_path, session):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(token_file()))
    base = session.add_node(None, "Prologue. ", "prompt")
    summary = import_file(session, path, under=base.id)
    sub = session.node(summary["root"])
    assert sub.parent_id == base.id and sub.text == "The cat"
    assert sub.author == "human"  # the file's root is not this session's prompt
    leaf = session.child_ids(sub.id)[0]
    assert session.path_text(leaf) == "Prologue. The cat sat on"
    assert len(session.roots()) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON (line 1"),
        ("42", "expected loom's JSON export"),
        ('{"root": {"text": 5}}', "text must be a string"),
        ('{"root": {"text": "a", "children": [7]}}', "root.children[0]: a node must be an object"),
    ],
)
def test_broken_files_say_what_and_where(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with Session(tmp_path / "s.loom") as s, pytest.raises(TreeFormatError) as err:
        import_file(s, bad)
    assert str(bad) in str(err.value) and message in str(err.value)


def test_cli_import_reports_and_leaves_no_half_session(tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text('{"root": {"text": "a", "children": [{"text": "b"}, {"text": null}]}}')
    assert main(["--sessions-dir", str(tmp_path), "import", str(bad)]) == 2
    assert "text must be a string" in capsys.readouterr().err
    assert not (tmp_path / "broken.loom").exists()
    good = tmp_path / "tokens.json"
    good.write_text(json.dumps(token_file()))
    assert main(["--sessions-dir", str(tmp_path), "import", str(good), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nodes"] == 4 and summary["tokens"] == 5
    # importing again under the current node of that session
    assert main(["--sessions-dir", str(tmp_path), "import", str(good), "--into", "tokens", "--under"]) == 0
    with Session(tmp_path / "tokens.loom") as s:
        assert s.count() == 8 and len(s.roots()) == 1
    assert main(["--sessions-dir", str(tmp_path), "import", str(good)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_completion_that_exports_back_as_it_is_is_not_stored_twice(tmp_path, session):
    from loom.io.socketteer import META_KEY
    from loom.tree import Alternative, Token

    root = session.add_node(None, "The cat", "prompt")
    session.add_node(
        root.id,
        " sat on",
        "model",
        model="m",
        tokens=[Token(" sat", -0.5, None, (Alternative(" sat", -0.5),)), Token(" on", -0.25, None, ())],
    )
    out = export_data(session)
    with Session(tmp_path / "again.loom") as again:
        import_data(again, copy.deepcopy(out))
        node = again.children(again.roots()[0].id)[0]
        assert "completion" not in node.meta[META_KEY].get("response", {})  # the tokens say it all
        assert export_data(again)["model_responses"] == out["model_responses"]


def test_completions_are_written_as_the_generic_json_writer_would():
    """An export writes each node's completion straight from its tokens (completion_text), not by
    building dicts and indenting them: the same text, for any tokens, positions and finish."""
    import random

    from loom.io.jsonstream import dumps_at
    from loom.io.socketteer_tokens import completion_out, completion_text
    from loom.tree import Alternative, Token

    rng = random.Random(3)
    texts = ["a", " w1", "\x1b[2J", "é\u202e", "\ud800", '"q"', "", "\n"]
    lps = [None, -0.5, 0.0, -1e-9, float("-inf"), float("nan"), -30.25]
    for _ in range(400):
        core = [
            Token(
                rng.choice(texts),
                rng.choice(lps),
                None,
                tuple(Alternative(rng.choice(texts), rng.choice(lps)) for _ in range(rng.randint(0, 4))),
            )
            for _ in range(rng.randint(0, 5))
        ]
        finish = rng.choice([None, "stop", "length", {"why": ["x", 1]}, 3])
        positions = rng.choice([["span", 0], ["span", rng.randint(0, 99)], ["end", 7], ["index"], ["none"]])
        for ea in (True, False):
            level = rng.randint(0, 5)
            want = dumps_at(completion_out(core, finish, positions), level, indent=1, ensure_ascii=ea)
            assert completion_text(core, finish, positions, level, ea) == want


def test_export_of_a_kept_empty_completion_without_tokens(session):
    # a node imported by an earlier loom keeps its response's completion in its meta; where that was
    # empty and the node has no tokens, the export made the completion from the tokens: None (TypeError;
    # found by the strict type check)
    from loom.io import export_text

    root = session.add_node(None, "A prompt.", "prompt")
    meta = {"socketteer": {"id": "n1", "generation": {"id": "r1", "index": 0}, "response": {"completion": None}}}
    session.add_node(root.id, " Text.", "model", meta=meta)
    text, count = export_text(session, "socketteer")
    data = json.loads(text)
    assert count == 2 and data["root"]["children"][0]["id"] == "n1"
    completion = data["model_responses"]["r1"]["completions"][0]
    assert completion["text"] == "" and completion["tokens"] == []


def _tok(text, lp):
    return {"generatedToken": {"token": text, "logprob": lp}, "counterfactuals": {text: lp, " z": lp - 1}}


def test_read_in_pieces_or_whole_the_session_keeps_the_same(tmp_path, demo_data):
    """A file read in pieces (its responses spooled, each head written as the last node naming it
    is) and the same file read whole give the same session state and the same export, as roots
    and merged under a node: a response whose completions two nodes name (one of them edited),
    and one no node names; and the demo file."""
    comps = [{"text": t, "tokens": [_tok(t, -0.5)], "finishReason": "length"} for t in (" b", " c", " d")]
    made = {
        "root": {
            "id": "r",
            "text": "a",
            "children": [
                {"id": "y", "text": " k", "generation": {"id": "g", "index": 1}},  # edited: not held
                {"id": "x", "text": " b", "generation": {"id": "g", "index": 0}},
                {"id": "w", "text": " b", "generation": {"id": "g2", "index": 0}},
            ],
        },
        "model_responses": {
            "g": {"completions": comps, "prompt": {"text": "a"}, "model": "m"},
            "lone": {"completions": comps[:1], "prompt": {"text": "q"}},
            "g2": {"completions": comps[:1], "prompt": {"text": "a"}, "model": "m"},
        },
    }
    for name, data in (("made", made), ("demo", demo_data)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        states = []
        for way in ("pieces", "whole"):
            with Session(tmp_path / f"{name}-{way}.loom") as s:
                for under in (None, 2):
                    if way == "pieces":
                        import_file(s, path, under=under)
                    else:
                        import_data(s, copy.deepcopy(data), under=under)
                states.append((s.get_state("socketteer"), json.dumps(export_data(s)), s.count()))
        assert states[0] == states[1], name
    with Session(tmp_path / "made-pieces.loom") as s:
        heads = s.get_state("socketteer")["model_responses"]
    assert heads["g"]["completions"][0] is None and heads["g"]["completions"][1] == comps[1]
    assert heads["g"]["completions"][2] == comps[2] and heads["lone"] == made["model_responses"]["lone"]
