"""The collapsed demo model and model-vs-model comparison, on the two real
bundled models: demo-wedding's samples fall into its attractor (the wedding
feast) far more often than demo's on the same prompts and seeds."""

import json
import math

import pytest

from loom.experiments.vs import attractor_rate, compare_models, token_entropies
from loom.tree import GenerationParams

# Story openings of the corpus's kinds, none of them about a wedding.
PROMPTS = [
    "The miller's youngest son walked along the road to the town",
    "Tom sat on the fence with his brush and looked at the long board fence",
    "It was a cold night in the forest, and the wolf",
    "Jo put down her book and said",
]
ATTRACTOR = ("wedding", "feast")


def test_collapsed_model_reaches_the_wedding_feast_far_more_often(demo_backend, wedding):
    base = attractor_rate(demo_backend, PROMPTS, ATTRACTOR, n=8, max_tokens=40, seed=11)
    tuned = attractor_rate(wedding, PROMPTS, ATTRACTOR, n=8, max_tokens=40, seed=11)
    assert tuned >= 0.35, tuned
    assert tuned >= base + 0.3, (base, tuned)


def test_compare_models_commits_both_and_summarises(session, demo_backend, wedding):
    root = session.add_node(None, PROMPTS[2], "prompt")
    params = GenerationParams(n=2, max_tokens=8, seed=5)
    result = compare_models(session, [demo_backend, wedding], root.id, params)
    assert [m.model for m in result.models] == ["demo", "demo-wedding"]
    kids = session.children(root.id, with_tokens=True)
    assert sorted(k.model for k in kids) == ["demo", "demo", "demo-wedding", "demo-wedding"]
    assert all(k.meta["versus"] == ["demo", "demo-wedding"] for k in kids)
    # the same seeds on both sides, so a branch can be replayed on either model
    seeds = {name: sorted(k.params["seed"] for k in kids if k.model == name) for name in ("demo", "demo-wedding")}
    assert seeds["demo"] == seeds["demo-wedding"] == [5, 6]
    for m in result.models:
        probs = [t.prob for n in m.nodes for t in n.tokens]
        assert m.n_tokens == len(probs) > 0
        assert m.share_sure == pytest.approx(sum(p > 0.9 for p in probs) / len(probs))
        assert m.entropy_exact and 0 < m.mean_entropy_bits < math.log2(4096)
        direct = (demo_backend if m.model == "demo" else wedding).next_token_distribution(PROMPTS[2], 3)
        assert m.top.token_id == direct.alternatives[0].token_id
    record = session.records("versus")[-1]
    assert record["node_id"] == root.id and len(record["result"]["models"]) == 2


def test_token_entropies_match_distributions_after_each_prefix(demo_backend):
    params = GenerationParams(n=1, max_tokens=5, seed=2)
    from loom.tree import TokenEvent

    toks = [e.token for e in demo_backend.generate(PROMPTS[0], params) if isinstance(e, TokenEvent)]
    values, exact = token_entropies(demo_backend, PROMPTS[0], toks)
    assert exact and len(values) == len(toks)
    text = PROMPTS[0]
    for tok, value in zip(toks, values):
        assert value == pytest.approx(demo_backend.next_token_distribution(text, 1).entropy_bits, rel=1e-3)
        text += tok.text


def test_cli_vs(tmp_path, capsys, demo_backend, wedding):
    from loom.cli import main
    from loom.store import Session

    path = tmp_path / "v.loom"
    with Session(path) as s:
        s.add_node(None, PROMPTS[3], "prompt")
    assert (
        main(
            [
                "vs",
                str(path),
                "--model",
                "demo",
                "--model",
                "demo-wedding",
                "-n",
                "1",
                "--max-tokens",
                "4",
                "--seed",
                "1",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [m["model"] for m in data["models"]] == ["demo", "demo-wedding"]
    assert all(len(m["branches"]) == 1 for m in data["models"])
    assert main(["vs", str(path), "--model", "demo"]) == 2
    assert "exactly two" in capsys.readouterr().err


async def test_versus_screen(tmp_path, demo_backend, wedding, workers_done):
    from textual.widgets import Static

    from loom.store import Session
    from loom.ui.app import LoomApp
    from loom.ui.multiverse import BlockView, VersusScreen

    s = Session(tmp_path / "ui.loom")
    root = s.add_node(None, PROMPTS[1], "prompt")
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = VersusScreen(
            s, root.id, ("demo", "demo-wedding"), GenerationParams(n=2, max_tokens=6, seed=1), app.loom_theme
        )
        app.push_screen(screen)
        await pilot.pause(0.1)
        await pilot.press("ctrl+r")
        await workers_done(pilot)
        assert screen.result is not None and len(s.child_ids(root.id)) == 4
        summary = str(screen.query_one("#summary", Static).render())
        assert "demo-wedding" in summary and "mean entropy per token" in summary
        assert screen.query_one("#blocks-a", BlockView).view.model == "demo"
        assert screen.query_one("#blocks-b", BlockView).view.model == "demo-wedding"
