"""The experiment layer: every experiment returns a typed result that it stores
as a record with the model's identity; the CLI, the app and the Python API
only collect input and show it, so they give the same numbers."""

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import loom
from loom.cli import main

FACES = [Path(loom.__file__).parent / p for p in ("ui", "commands", "cli.py", "api.py")]
# calls that are experiment work: asking a model, storing a result, choosing the session's model
WORK = re.compile(
    r"add_record\(|next_token_distribution\(|\.score\(|score_candidates\(|backend\.generate\(|"
    r"(?<![.\w])expand\(|set_state\(\"model\"|open_backend\("
)


def test_faces_hold_no_experiment_logic():
    found = []
    for face in FACES:
        for path in [face] if face.is_file() else sorted(face.rglob("*.py")):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if WORK.search(line):
                    found.append(f"{path.name}:{i}: {line.strip()}")
    assert found == []


@pytest.fixture
def tale(tmp_path, monkeypatch, demo_backend):
    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("tale", "Once upon a time", model="demo")
    made = loom.generate(s, n=1, max_tokens=12, seed=3, progress=False)
    return s, made.nodes[0]


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dist_is_stored_with_the_model_and_the_cli_csv_is_the_api_table(tale, capsys, tmp_path):
    s, child = tale
    csv_path = tmp_path / "dist.csv"
    code, out, _ = run_cli(
        capsys, "dist", "tale", "--node", str(child.id), "--token", "4", "--k", "7", "--csv", str(csv_path), "--json"
    )
    assert code == 0
    data = json.loads(out)
    rec = next(r for r in s.records("distribution") if r["id"] == data["record"])
    assert rec["node_id"] == child.id and rec["params"]["token"] == 4
    assert rec["params"]["model"]["name"] == "demo" and len(rec["params"]["model"]["weights_sha256"]) == 64
    assert data["sampled"]["id"] == child.tokens[4].token_id
    api = loom.distribution(s, child.id, token=4, k=7, save=False)
    assert csv_path.read_bytes().decode() == api.to_csv()
    df = pd.read_csv(csv_path)
    assert len(df) == 7 and pd.api.types.is_float_dtype(df["prob"]) and pd.api.types.is_integer_dtype(df["token_id"])
    # the sampled token is flagged where it is among the top 7
    assert df["sampled"].sum() == int(child.tokens[4].token_id in set(df["token_id"]))


def test_score_cli_and_api_give_the_same_table(tale, capsys, tmp_path):
    s, _ = tale
    csv_path = tmp_path / "score.csv"
    code, out, _ = run_cli(
        capsys, "score", "tale", "-c", " dragon", "-c", " king", "--preset", "numbers", "--csv", str(csv_path), "--json"
    )
    assert code == 0 and json.loads(out)["answer"] == "complete"
    api = loom.score(s, [" dragon", " king"], presets=["numbers"], save=False)
    assert csv_path.read_bytes().decode() == api.to_csv()
    df = pd.read_csv(csv_path)
    assert len(df) == 103 and df["prob"].sum() == pytest.approx(1.0)
    assert s.records("candidates")[-1]["params"]["answer"] == "complete"


def test_bad_values_give_one_line_exit_2_and_store_nothing(tale, capsys):
    s, child = tale
    before = (len(s.records()), s.count())
    for args in (
        ["dist", "tale", "--node", str(child.id), "--token", "999"],
        ["dist", "tale", "--k", "0"],
        ["dist", "tale", "--node", "4242"],
        ["score", "tale"],
        ["multiverse", "tale", "--depth", "99"],
        ["replay", "tale", "--node", str(child.id)],
        ["vs", "tale", "--model", "demo", "--model", "no-such-model"],
    ):
        code, out, err = run_cli(capsys, *args)
        assert code == 2, args
        assert err.startswith("loom: error: ") and "Traceback" not in err, (args, err)
    assert (len(s.records()), s.count()) == before


def test_multiverse_record_and_rows(tale, capsys, tmp_path):
    s, child = tale
    code, out, _ = run_cli(
        capsys, "multiverse", "tale", "--node", str(child.id), "--depth", "2", "--k", "3", "--csv", "-"
    )
    assert code == 0
    df = pd.read_csv(io.StringIO(out))
    assert set(df["depth"]) == {1, 2} and pd.api.types.is_float_dtype(df["prob"])
    rec = s.records("multiverse")[-1]
    assert rec["node_id"] == child.id and rec["params"]["depth"] == 2 and rec["params"]["model"]["name"] == "demo"


def test_vs_keeps_both_models_identities_and_per_token_rows(tale):
    s, child = tale
    r = loom.vs(s, "demo", "demo-wedding", child.id, n=2, max_tokens=5, seed=1, progress=False)
    rec = next(x for x in s.records("versus") if x["id"] == r.record)
    assert [m["name"] for m in rec["params"]["models"]] == ["demo", "demo-wedding"]
    assert rec["params"]["models"][0]["weights_sha256"] != rec["params"]["models"][1]["weights_sha256"]
    df = r.to_pandas()
    assert set(df["model"]) == {"demo", "demo-wedding"} and len(df) == sum(
        len(n.tokens) for m in r.models for n in m.nodes
    )
    assert pd.api.types.is_float_dtype(df["entropy_bits"]) and df["entropy_exact"].all()
    assert s.get_state("model") == "demo"  # vs never changes the session's model


def test_replay_uses_the_model_that_wrote_the_original(tmp_path, monkeypatch, demo_backend):
    """The app has demo open; the original continuation was written by
    demo-wedding: the replay runs on demo-wedding (it used to refuse)."""
    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("w", "Are bugs real?")
    root = s.node(s.current)
    loom.generate(s, root.id, model="demo-wedding", n=1, max_tokens=10, seed=5, progress=False)
    from loom.experiments.generate import edit_node

    edited = edit_node(s, root, "Are bugs truly real?")
    res = loom.replay(s, edited.id)
    assert res.replay.model == "demo-wedding" and res.replay.parent_id == edited.id
    assert res.replay.params["seed"] == res.original_child.params["seed"]
    rec = next(x for x in s.records("compare") if x["id"] == res.record)
    assert rec["params"]["replay"] is True and rec["other_id"] == res.replay.id


async def test_app_replays_with_the_originals_model(tmp_path, monkeypatch, demo_backend, workers_done):
    from loom.experiments.generate import edit_node
    from loom.ui.app import LoomApp
    from loom.ui.attractors import CompareScreen

    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("w", "Are bugs real?")
    root = s.node(s.current)
    loom.generate(s, root.id, model="demo-wedding", n=1, max_tokens=8, seed=5, progress=False)
    edited = edit_node(s, root, "Are bugs truly real?")
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        app.goto(edited.id)
        await pilot.pause()
        await pilot.press("R")
        await workers_done(pilot)
        assert isinstance(app.screen, CompareScreen)
    replays = [c for c in s.children(edited.id) if c.author == "model"]
    assert [c.model for c in replays] == ["demo-wedding"]


def test_a_notebook_shows_results_as_tables_with_the_text_inert(tmp_path, monkeypatch):
    from loom.analysis.attractors import parse_words
    from loom.tree import Token

    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("h", "Tell me")
    root = s.node(s.current)
    for text in (" <script>alert(1)</script> a wedding", " \x1b]0;pwned\x07 a wedding", " [red]plain[/red] dogs"):
        s.add_node(root.id, text, "model", model="demo", tokens=[Token(text, -0.5, None)])
    r = loom.report(s, existing=True, attractors=[parse_words("w=wedding")])
    shown = r._repr_html_()
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "\x1b" not in shown and "\x07" not in shown
    assert "66.7% (" in shown  # the attractor's rate with its interval
