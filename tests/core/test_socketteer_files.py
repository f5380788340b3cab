"""The original loom's files in loom and back: its 2021 shape (token data in meta.generation),
the peers demo file with model responses, hoisted trees and the selected node, and loom's own
nodes written in the original's form (prompts, positions) and read back.

The fixtures follow the original's source exactly (tests/core/socketteer_files.py names the commit
and file of each shape)."""

from __future__ import annotations

import copy
import json
import math

import pytest
from socketteer_files import MODEL, file_2021, hoisted, pieces, with_responses
from socketteer_files import PEERS_DEMO as DEMO

from loom.cli import main
from loom.experiments.generate import generate_children
from loom.io import import_file
from loom.io.socketteer import META_KEY, PROMPT_LENGTH, _sid, export_data, import_data
from loom.io.socketteer_tokens import EDITED, NO_RESPONSE
from loom.store import Session
from loom.tree import GenerationParams

STEP = 5e-5 + 1e-9  # the store keeps logprobs in steps of 1e-4 nats: what comes back is within half a step

# What the original program reads of a file (socketteer/loom at HEAD 91ca920): model.py
# _init_global_objects and load_tree_data (the top-level keys), flatten_tree, select_node, hoist/zip
# (node fields), get_request_info with components/dialogs.py, components/templates.py process_logprobs
# and controller.py select_token/change_token (the responses). The comparison below covers all of them.
READS_TOP = (
    "root",
    "chapters",
    "canonical",
    "memories",
    "summaries",
    "model_responses",
    "generation_settings",
    "inline_generation_settings",
    "visualization_settings",
    "preferences",
    "workspace",
    "module_settings",
    "tags",
    "selected_node_id",
    "frame",
)
READS_NODE = (
    "id",
    "text",
    "children",
    "parent_id",
    "meta",
    "generation",
    "tags",
    "chapter_id",
    "open",
    "visited",
    "mutable",
    "text_attributes",
    "multimedia",
    "frame",
    "masked_head",
    "tail_id",
    "hoisted",
)
READS_RESPONSE = ("completions", "prompt", "model")  # completions[i]: text, tokens[j]: generatedToken, position,
# counterfactuals; prompt: text, tokens


def differences(a, b, where="", tol_keys=("logprob", "token_logprobs", "counterfactuals", "top_logprobs")):
    """Where two JSON values differ; numbers under a logprob key may differ by the store's half step."""
    out = []
    loose = any(k in where for k in tol_keys)
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b) and set(a) != set(b):
            out.append(f"{where}: keys {sorted(set(a) ^ set(b))}")
        for k in set(a) & set(b):
            out += differences(a[k], b[k], f"{where}.{k}", tol_keys)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items, {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{where}[{i}]", tol_keys)
    elif loose and isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if not abs(a - b) <= STEP + 1e-12:
            out.append(f"{where}: {a} != {b}")
    elif a != b or type(a) is not type(b):
        out.append(f"{where}: {a!r:.60} != {b!r:.60}")
    return out[:20]


def walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.get("children", []))


def file_at(tmp_path, data, name="in.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return path


# -- the 2021 shape ---------------------------------------------------------------------------
def test_2021_files_import_with_their_token_data(tmp_path):
    data = file_2021()
    with Session(tmp_path / "s.loom") as s:
        summary = import_file(s, file_at(tmp_path, data))
        by_sid = {s.node(i).meta[META_KEY]["id"]: s.node(i) for i in s.all_ids()}
        kids = data["root"]["children"]
        # every generated node keeps its tokens but the edited one: the summary says how many and why
        assert summary["nodes_with_tokens"] == 9 and summary["tokens_dropped"] == 1
        assert summary["without_tokens"] == {EDITED: 1}
        for orig in kids[:4]:  # the three eras and a chat node
            node = by_sid[orig["id"]]
            lp = orig["meta"]["generation"]["logprobs"]
            core = [t for t in node.tokens if t.logprob is not None]
            assert node.author == "model" and node.model == MODEL
            assert [t.text for t in core] == lp["tokens"]
            assert [t.logprob for t in core] == pytest.approx(lp["token_logprobs"], abs=STEP)
            if lp["top_logprobs"]:
                assert [[a.text for a in t.alternatives] for t in core] == [list(d) for d in lp["top_logprobs"]]
                assert [a.logprob for t in core for a in t.alternatives] == pytest.approx(
                    [v for d in lp["top_logprobs"] for v in d.values()], abs=STEP
                )
            else:
                assert all(t.alternatives == () for t in core)
        assert [t.text for t in by_sid[kids[3]["id"]].tokens][:2] == ["\nKeeper:", " I"]  # chat mode's start text
        assert by_sid[kids[2]["id"]].created == pytest.approx(1625224805.0)  # 2021-07-02-11.20.05
        edited = by_sid[kids[4]["id"]]
        assert edited.tokens is None and edited.author == "edit"
        split_child = by_sid[kids[5]["children"][0]["id"]]
        assert [t.text for t in split_child.tokens] == pieces(" and waited for dark.")
        assert [t.text for t in by_sid[kids[6]["id"]].tokens] == [" slept."] and by_sid[kids[6]["id"]].tokens[
            0
        ].alternatives == ()
        assert [t.text for t in by_sid[kids[7]["id"]].tokens] == [" It", "", "’", "s", " late", "."]
        assert [t.text for t in by_sid[kids[8]["id"]].tokens] == [" The", " end", "."]
        # token data the tokens rebuild is not stored twice; what they cannot rebuild is kept as it was
        stored = {
            k["id"]: "logprobs" in by_sid[k["id"]].meta[META_KEY]["meta"]["generation"]
            for k in kids[:9]
            if k is not kids[5]
        }
        assert [stored[k["id"]] for k in kids[:4]] == [False] * 4
        assert stored[kids[4]["id"]] and stored[kids[7]["id"]] and stored[kids[8]["id"]]


def test_2021_files_export_as_they_were_and_come_back(tmp_path):
    data = file_2021()
    with Session(tmp_path / "a.loom") as a, Session(tmp_path / "b.loom") as b:
        import_file(a, file_at(tmp_path, data))
        out = export_data(a)
        assert differences(out, data) == []
        for x, y in zip(out["root"]["children"], data["root"]["children"]):  # rebuilt in the file's key order
            if "generation" in y["meta"]:
                assert list(x["meta"]["generation"]) == list(y["meta"]["generation"])
                assert list(x["meta"]["generation"]["logprobs"]) == list(y["meta"]["generation"]["logprobs"])
        import_data(b, copy.deepcopy(out))
        assert [(a.node(i).text, a.node(i).tokens) for i in a.all_ids()] == [
            (b.node(i).text, b.node(i).tokens) for i in b.all_ids()
        ]
        assert export_data(b) == out


# -- the peers demo file, with model responses ----------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    return json.loads(DEMO.read_text(encoding="utf-8"))


def test_the_demo_file_comes_back_in_every_field_the_original_reads(tmp_path, demo):
    data = with_responses(demo)
    with Session(tmp_path / "d.loom") as s:
        summary = import_file(s, file_at(tmp_path, data))
        assert summary["nodes_with_tokens"] == 355 and summary["without_tokens"] == {EDITED: 13}
        heads = s.get_state(META_KEY)["model_responses"]  # a completion the tokens rebuild is not kept twice
        assert sum(c is None for r in heads.values() for c in r["completions"]) == 355
        out = export_data(s)
    assert set(READS_TOP) <= set(data) and set(READS_TOP) <= set(out)
    assert {k for n in walk(data["root"]) for k in n} <= set(READS_NODE) | {"history"}
    assert differences(out, data) == []
    for rid, resp in data["model_responses"].items():  # the prompts as they were, text and tokens
        assert out["model_responses"][rid]["prompt"] == resp["prompt"]
        for field in READS_RESPONSE:
            assert differences(out["model_responses"][rid][field], resp[field]) == []
    assert out["selected_node_id"] == data["selected_node_id"]


def test_the_demo_file_as_it_ships(tmp_path, demo):
    with Session(tmp_path / "d.loom") as s:
        summary = import_file(s, DEMO)
        assert summary["without_tokens"] == {NO_RESPONSE: 368}  # it names 102 responses it does not hold
        assert export_data(s) == demo


# -- hoisting and the selected node ----------------------------------------------------------------
def deep_node(demo, depth=6):
    stack = [(demo["root"], 0)]
    while stack:
        node, d = stack.pop()
        if d == depth and node["children"]:
            return node["id"]
        stack.extend((c, d + 1) for c in node["children"])


def test_a_hoisted_tree_comes_back_hoisted_with_its_selection(tmp_path, demo):
    data = hoisted(demo, deep_node(demo))
    visible = sum(1 for _ in walk(data["root"]))
    for selected in (data["root"]["id"], data["root"]["children"][0]["id"]):
        data["selected_node_id"] = selected
        with Session(tmp_path / f"h{len(selected)}{selected[:4]}.loom") as s:
            summary = import_data(s, copy.deepcopy(data))
            assert summary["nodes"] == visible
            assert any("hoisted" in n and "masked_head" in n for n in summary["notes"])
            assert s.node(s.current).meta[META_KEY]["id"] == selected
            assert export_data(s) == data


def test_the_selection_stays_when_it_names_a_node_the_tree_no_longer_has(tmp_path, demo):
    """After the original's unhoist, selected_node_id still names the mask (model.py unhoist sets
    self.selected_node_id, not tree_raw_data["selected_node_id"]): loom keeps it until the user moves."""
    data = copy.deepcopy(demo)
    data["selected_node_id"] = "af4931cc-0000-11ec-b847-acde48001122"  # the vanished mask
    with Session(tmp_path / "u.loom") as s:
        import_data(s, copy.deepcopy(data))
        assert s.current == s.roots()[0].id
        assert export_data(s)["selected_node_id"] == data["selected_node_id"]
        s.current = s.child_ids(s.current)[0]
        assert export_data(s)["selected_node_id"] == s.node(s.current).meta[META_KEY]["id"]


# -- loom's own nodes in the original's form -------------------------------------------------------
@pytest.fixture(scope="module")
def made(tmp_path_factory, demo_backend):
    """Two levels of real branches from the demo model under a human prompt."""
    s = Session(tmp_path_factory.mktemp("made") / "made.loom")
    root = s.add_node(None, "The old lighthouse", "prompt")
    params = GenerationParams(n=2, max_tokens=6, seed=11, logprobs=5, model="demo")
    first = generate_children(s, demo_backend, root.id, params).nodes
    edit = s.add_node(first[0].id, " but then", "human")
    generate_children(s, demo_backend, edit.id, params)
    s.current = s.child_ids(edit.id)[1]
    yield s
    s.close()


def test_loom_nodes_are_written_as_the_original_writes_its_own(made):
    out = export_data(made)
    assert out["selected_node_id"] != out["root"]["id"]
    for node in walk(out["root"]):
        if "generation" not in node:
            continue
        resp = out["model_responses"][node["generation"]["id"]]
        comp = resp["completions"][node["generation"]["index"]]
        parent = next(n for n in walk(out["root"]) if node in n["children"])
        path = "".join(n["text"] for n in walk_down(out["root"], parent))
        # the prompt is the path's text up to the node; positions count from its start, as gpt.py writes them
        assert resp["prompt"] == {"text": path, "tokens": None}
        assert comp["text"] == node["text"] and resp["model"] == "demo"
        pos = len(path)
        for td in comp["tokens"]:
            assert td["position"] == {"start": pos, "end": pos + len(td["generatedToken"]["token"])}
            pos += len(td["generatedToken"]["token"])
        assert pos == len(path) + len(node["text"])


def walk_down(root, target):
    """The nodes from `root` down to `target`."""
    stack = [(root, [root])]
    while stack:
        node, trail = stack.pop()
        if node is target:
            return trail
        stack.extend((c, trail + [c]) for c in node["children"])
    raise AssertionError("not in the tree")


def test_loom_nodes_come_back_with_their_tokens(made, tmp_path):
    out = export_data(made)
    with Session(tmp_path / "back.loom") as back:
        import_data(back, json.loads(json.dumps(out)))
        assert back.count() == made.count()
        assert back.node(back.current).text == made.node(made.current).text
        mine = {_sid(made, made.node(i)): i for i in made.all_ids()}
        for y in back.all_ids():
            b = back.node(y)
            a = made.node(mine[b.meta[META_KEY]["id"]])
            assert (a.text, a.author, a.model, a.params, a.complete) == (
                b.text,
                b.author,
                b.model,
                b.params,
                b.complete,
            )
            assert (a.tokens is None) == (b.tokens is None)
            for ta, tb in zip(a.tokens or (), b.tokens or ()):
                assert ta.text == tb.text and math.isclose(ta.logprob, tb.logprob, abs_tol=1e-4)
                assert [x.text for x in ta.alternatives] == [x.text for x in tb.alternatives]
                assert [x.logprob for x in ta.alternatives] == pytest.approx(
                    [x.logprob for x in tb.alternatives], abs=1e-4
                )
                assert tb.token_id is None  # the original's files hold no token ids
        assert export_data(back) == out


def test_a_subtree_and_a_long_path_give_the_prompt_the_original_would_send(made, tmp_path):
    kid = made.child_ids(made.roots()[0].id)[0]
    below = made.child_ids(kid)[0]
    out = export_data(made, below)
    resp = next(iter(out["model_responses"].values()))
    assert resp["prompt"]["text"] == made.path_text(below)  # the ancestors above the subtree are in it
    with Session(tmp_path / "long.loom") as s:
        root = s.add_node(None, "x" * (PROMPT_LENGTH + 500) + "END", "prompt")
        from loom.tree import Token

        s.add_node(root.id, " on", "model", model="m", tokens=[Token(" on", -0.5)])
        resp = next(iter(export_data(s)["model_responses"].values()))
        assert len(resp["prompt"]["text"]) == PROMPT_LENGTH and resp["prompt"]["text"].endswith("xEND")
        assert resp["completions"][0]["tokens"][0]["position"] == {"start": PROMPT_LENGTH, "end": PROMPT_LENGTH + 3}


def test_cli_import_says_what_kept_token_data(tmp_path, capsys):
    src = file_at(tmp_path, file_2021(), "keeper.json")
    assert main(["--sessions-dir", str(tmp_path), "import", str(src), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tokens with probabilities on 9 nodes" in out
    assert f"1 model-written node without token data: {EDITED}" in out


def test_a_session_imported_by_an_earlier_loom_still_exports(tmp_path):
    """Before responses were kept in the state, an import kept {id, model, timestamp, finishReason}
    (and the completion, where the tokens did not rebuild it) on each node."""
    from loom.tree import Alternative, Token

    with Session(tmp_path / "old.loom") as s:
        root = s.add_node(None, "The cat", "prompt", meta={META_KEY: {"id": "root"}})
        info = {"id": "cmpl-1", "model": "davinci", "timestamp": "2021-09-15-13.02.19", "finishReason": "length"}
        s.add_node(
            root.id,
            " sat on",
            "model",
            model="davinci",
            tokens=[Token(" sat", -0.5, None, (Alternative(" sat", -0.5),)), Token(" on", -0.25)],
            meta={META_KEY: {"id": "g0", "generation": {"id": "cmpl-1", "index": 0}, "response": info}},
        )
        kept = {"text": " ran", "tokens": [], "finishReason": "stop"}
        s.add_node(
            root.id,
            " ran",
            "model",
            model="davinci",
            meta={
                META_KEY: {
                    "id": "g1",
                    "generation": {"id": "cmpl-1", "index": 1},
                    "response": {**info, "completion": kept},
                }
            },
        )
        resp = export_data(s)["model_responses"]["cmpl-1"]
    assert resp["prompt"] == {"text": "The cat", "tokens": None} and resp["model"] == "davinci"
    assert [c["text"] for c in resp["completions"]] == [" sat on", " ran"] and resp["completions"][1] == kept
    assert resp["completions"][0]["tokens"][1] == {
        "generatedToken": {"token": " on", "logprob": -0.25},
        "position": {"start": 4, "end": 7},
        "counterfactuals": None,
    }


@pytest.mark.parametrize("chat", [False, True])
def test_positions_of_the_2024_original_come_back_in_their_form(tmp_path, chat):
    from socketteer_files import response_2024

    data = {
        "root": {
            "id": "r",
            "text": "Hello",
            "children": [
                {
                    "id": "a",
                    "text": " there, friend.",
                    "generation": {"id": "cmpl-x", "index": 0},
                    "meta": {"source": "AI"},
                    "children": [],
                }
            ],
        },
        "model_responses": {"cmpl-x": response_2024("cmpl-x", "Hello", " there, friend.", chat=chat, seed=3)},
    }
    with Session(tmp_path / "p.loom") as s:
        assert import_data(s, copy.deepcopy(data))["nodes_with_tokens"] == 1
        assert s.get_state("socketteer")["model_responses"]["cmpl-x"]["completions"] == [None]  # the node holds it
        out = export_data(s)
    assert differences(out["model_responses"], data["model_responses"]) == []
    assert [t["position"] for t in out["model_responses"]["cmpl-x"]["completions"][0]["tokens"]] == (
        [0, 1] if chat else [12, 20]
    )  # " there," " friend." after "Hello"
