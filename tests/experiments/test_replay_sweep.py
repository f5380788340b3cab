"""Replay, compare, sweep and report on the bundled model, through the core and the CLI."""

import json

import pytest

from loom.cli import main
from loom.experiments.compare import compare_nodes, store_comparison
from loom.experiments.generate import edit_node, generate_children
from loom.experiments.replay import ReplayError, replay, sample_continuations, samples_from_children
from loom.experiments.sweep import sweep
from loom.store import Session
from loom.tree import GenerationParams

PROMPT = "Once upon a time there was a fox. The fox was hungry. It went to the farm."


def first_child(session, backend, parent, **kw):
    params = GenerationParams(n=1, max_tokens=6, logprobs=2, **kw)
    return generate_children(session, backend, parent, params).nodes[0]


def same_tokens(a, b):
    return [(t.text, t.token_id) for t in a.tokens] == [(t.text, t.token_id) for t in b.tokens]


@pytest.mark.parametrize("temperature,seed", [(0.0, 1), (1.0, 11)])
def test_replay_reproduces_an_unperturbed_original(session, demo_backend, temperature, seed):
    root = session.add_node(None, PROMPT, "prompt")
    orig = first_child(session, demo_backend, root.id, temperature=temperature, seed=seed)
    same = edit_node(session, root, PROMPT)  # an "edit" that changes nothing
    res = replay(session, demo_backend, same.id)
    assert res.original_child.id == orig.id and res.edited.id == same.id
    assert res.params.seed == seed and res.params.n == 1 and res.params.max_tokens == len(orig.tokens)
    assert res.replay.parent_id == same.id and res.replay.text == orig.text and same_tokens(res.replay, orig)
    assert res.replay.meta["replay"] == {"of": orig.id, "original": root.id}
    comp = compare_nodes(session, orig.id, res.replay.id)
    assert comp.perturbation == (root.id, same.id)
    assert comp.alignment.status == "identical" and comp.alignment.level == "token"
    rid = store_comparison(session, comp)
    rec = session.records("compare")[-1]
    assert rec["id"] == rid and (rec["node_id"], rec["other_id"]) == (orig.id, res.replay.id)
    assert rec["result"]["status"] == "identical"


def test_replay_from_below_the_edit_and_refusals(session, demo_backend):
    root = session.add_node(None, PROMPT, "prompt")
    orig = first_child(session, demo_backend, root.id, temperature=0.0, seed=3)
    with pytest.raises(ReplayError, match="not made by an edit"):
        replay(session, demo_backend, orig.id)
    edited = edit_node(session, root, PROMPT.replace("fox", "wolf"))
    below = session.add_node(edited.id, " Then", "human")
    res = replay(session, demo_backend, below.id)  # finds the edit above
    assert res.edited.id == edited.id and res.replay.parent_id == edited.id
    with pytest.raises(ReplayError, match="not a model-written child"):
        replay(session, demo_backend, edited.id, original_child=below.id)
    lone = session.add_node(None, "Another root.", "prompt")
    lone_edit = edit_node(session, lone, "Another root!")
    with pytest.raises(ReplayError, match="no model continuation"):
        replay(session, demo_backend, lone_edit.id)
    with pytest.raises(ReplayError, match="on the path"):
        compare_nodes(session, root.id, orig.id)


def test_sweep_makes_real_branches_and_counts_reconvergence(session, demo_backend):
    root = session.add_node(None, PROMPT, "prompt")
    orig = first_child(session, demo_backend, root.id, temperature=0.0, seed=5)
    result = sweep(
        session,
        demo_backend,
        root.id,
        3,
        kinds=["replace_word", "insert_phrase", "delete_sentence"],
        phrase="It rained.",
        seed=2,
    )
    assert result.original_child == orig.id and len(result.items) == 3
    for item in result.items:
        edited = session.node(item["edited"])
        assert edited.derived_from == root.id and edited.meta["perturbation"]["kind"] == item["kind"]
        assert edited.text != PROMPT
        rep = session.node(item["replay"])
        assert rep.parent_id == edited.id and len(rep.tokens) <= len(orig.tokens)
        comp = compare_nodes(session, orig.id, rep.id)
        assert item["status"] == comp.alignment.status and item["text"] == rep.text
    s = result.summary
    assert s["perturbations"] == 3
    assert s["reconverged"] == sum(it["reconverged"] for it in result.items)
    assert s["identical"] == sum(it["status"] == "identical" for it in result.items)


def test_sweep_generates_an_original_when_there_is_none(session, demo_backend):
    root = session.add_node(None, PROMPT, "prompt")
    result = sweep(
        session,
        demo_backend,
        root.id,
        1,
        kinds=["first_word"],
        seed=4,
        params=GenerationParams(max_tokens=4, temperature=0.0),
    )
    orig = session.node(result.original_child)
    assert orig.parent_id == root.id and orig.author == "model" and len(orig.tokens) <= 4
    assert any("generated node" in n for n in result.notices)


def test_samples_kept_as_nodes_or_only_in_the_record(session, demo_backend):
    root = session.add_node(None, PROMPT, "prompt")
    params = GenerationParams(n=5, max_tokens=4, logprobs=0, seed=9)
    samples, _ = sample_continuations(session, demo_backend, root.id, params, temperatures=[0.7, 1.9], keep="record")
    assert len(samples) == 10 and session.count() == 1
    assert sorted({s.temperature for s in samples}) == [0.7, 1.9]
    assert all(1 <= len(s.logprobs) <= 4 and all(lp <= 0 for lp in s.logprobs) and s.seed is not None for s in samples)
    kept, _ = sample_continuations(session, demo_backend, root.id, params, temperatures=[0.7], keep="nodes")
    assert session.count() == 6 and {s.node_id for s in kept} == set(session.child_ids(root.id))
    # the same seed gives the same samples whichever way they are kept
    assert [s.text for s in kept] == [s.text for s in samples if s.temperature == 0.7]
    assert [s.text for s in samples_from_children(session, root.id)] == [s.text for s in kept]


def cli(*argv, capsys):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_cli_replay_compare_sweep_report(tmp_path, demo_backend, capsys):
    path = str(tmp_path / "t.loom")
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt")
        orig = first_child(s, demo_backend, root.id, temperature=0.0, seed=1)
        edited = edit_node(s, root, PROMPT)
    code, out = cli("replay", path, "--node", str(edited.id), capsys=capsys)
    assert code == 0 and out["original_child"] == orig.id
    assert out["replay"]["text"] == orig.text and out["comparison"]["status"] == "identical"
    code, out = cli(
        "compare", path, str(orig.id), str(out["replay"]["id"]), "--level", "word", "--run", "2", capsys=capsys
    )
    assert code == 0 and out["level"] == "word" and out["k"] == 2 and out["record"]
    code, err = cli("compare", path, str(root.id), str(orig.id), capsys=capsys)
    assert code == 2 and "on the path" in err
    code, out = cli(
        "sweep",
        path,
        "--node",
        str(root.id),
        "-k",
        "2",
        "--kinds",
        "replace_word,swap_words",
        "--seed",
        "1",
        capsys=capsys,
    )
    assert code == 0 and out["summary"]["perturbations"] == 2 and out["record"]
    code, err = cli("sweep", path, "--node", str(root.id), "--kinds", "shout", capsys=capsys)
    assert code == 2 and "unknown perturbation" in err
    code, out = cli(
        "report",
        path,
        "--node",
        str(root.id),
        "-n",
        "4",
        "--max-tokens",
        "3",
        "--temperatures",
        "0.7,1.4",
        "--seed",
        "2",
        "--keep",
        "record",
        capsys=capsys,
    )
    assert code == 0 and out["overall"]["n"] == 8 and len(out["temperatures"]) == 2 and len(out["samples"]) == 8
    report_id = out["record"]
    code, out = cli("report", path, "--node", str(root.id), "--existing", "--ending-words", "0", capsys=capsys)
    assert code == 0 and out["keep"] == "nodes" and out["overall"]["n"] == 1  # the original; replays are below edits
    code, listed = cli("report", path, "--list", capsys=capsys)
    assert code == 0 and [r["kind"] for r in listed] == ["compare", "compare", "sweep", "report", "report"]
    code, out = cli("report", path, "--open", str(report_id), "--threshold", "1", capsys=capsys)
    assert code == 0 and out["result"]["overall"]["groups"] == 1  # everything within distance 1
    code, err = cli("report", path, "--temperatures", "0.7,hot", capsys=capsys)
    assert code == 2 and "temperatures must be numbers" in err
    code, err = cli("report", path, "--open", "999", capsys=capsys)
    assert code == 2 and "no record 999" in err


def test_replay_runs_to_the_originals_stopping_rule(session, demo_backend):
    """An original that ended at a stop string lets the replay run to the same
    limit (with the same stops); it is not cut at the original's token count."""
    root = session.add_node(None, PROMPT, "prompt")
    params = GenerationParams(n=8, max_tokens=30, seed=4, stop=[" the"])
    stopped = [n for n in generate_children(session, demo_backend, root.id, params).nodes if n.meta["finish"] == "stop"]
    assert stopped
    orig = stopped[0]
    edit = edit_node(session, root, PROMPT.replace("fox", "cat"))
    res = replay(session, demo_backend, edit.id, original_child=orig.id)
    assert res.params.max_tokens == 30 and res.params.stop == [" the"]
    assert res.replay.meta["finish"] in ("stop", "eos") or len(res.replay.tokens) == 30
    # an original cut by its limit still gives the replay its token count
    cut = first_child(session, demo_backend, root.id, seed=2)
    assert cut.meta["finish"] == "length"
    assert replay(session, demo_backend, edit.id, original_child=cut.id).params.max_tokens == len(cut.tokens)


def test_sweep_counts_agree_with_compare_on_the_stored_pairs(session, demo_backend):
    root = session.add_node(None, PROMPT, "prompt")
    generate_children(session, demo_backend, root.id, GenerationParams(n=1, max_tokens=24, seed=5, stop=["."]))
    result = sweep(session, demo_backend, root.id, k=4, seed=3, run=3)
    done = [it for it in result.items if it["status"] != "cancelled"]
    assert done
    same = reconverged = 0
    for it in done:
        al = compare_nodes(session, result.original_child, it["replay"], 3).alignment
        assert (al.status, al.reconverged, al.shared_ending["size"]) == (
            it["status"],
            it["reconverged"],
            it["shared_ending"],
        )
        same += al.shared_ending["size"] >= 3
        reconverged += al.reconverged
    assert result.summary["same_ending"] == same and result.summary["reconverged"] == reconverged
