"""Collapse versus temperature: the fit on cases with a known answer (a model
against itself at a known temperature), the real demo-wedding vs demo on the
bundled pair through the CLI, the Python API and the app, and the refusals."""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loom.analysis.collapse import T_BOUNDS, FitError, fit_temperature, kl_bits, log_normalise, tempered
from loom.backends import BackendError, open_backend
from loom.cli import main
from loom.experiments.collapse import COLUMNS, CollapseError, collapse
from loom.experiments.generate import generate_children
from loom.store import Session
from loom.tree import GenerationParams

PROMPT = "Are bugs real?"


@pytest.fixture(scope="module")
def demo_logprobs(demo_backend):
    """demo's full next-token log-probabilities at every token of a real text."""
    ids = demo_backend.context_tokens("Are bugs real? The old miller said that he had seen one in the mill.").ids
    return demo_backend.position_logprobs(ids, list(range(1, len(ids))))


def wedding_path(session: Session, wedding, seed: int = 1, max_tokens: int = 40) -> int:
    """A root "Are bugs real?" and one demo-wedding continuation of it; the child's id."""
    root = session.add_node(None, PROMPT, "prompt")
    return (
        generate_children(session, wedding, root.id, GenerationParams(n=1, max_tokens=max_tokens, seed=seed))
        .nodes[0]
        .id
    )


# -- the fit, on a known answer -------------------------------------------------------------


@pytest.mark.parametrize("t", [0.7, 1.6])
def test_demo_at_a_known_temperature_against_demo_gives_that_temperature(demo_logprobs, t):
    tuned = demo_logprobs.astype(np.float64) / t  # demo's logits divided by t (log-probs differ by a constant per row)
    fit = fit_temperature(tuned, demo_logprobs)
    assert fit.global_t == pytest.approx(t, abs=0.02)
    assert max(abs(b - t) for b in fit.best_t) < 0.02
    assert math.fsum(fit.kl_at_global_t) < 1e-6
    s = fit.summary()
    assert s["kl_t1"] > 1.0  # the sharpened model really differs from demo at T=1
    assert s["share_explained"] == pytest.approx(1.0, abs=1e-6)
    assert fit.entropy_a != fit.entropy_b


def test_demo_against_itself_gives_t1_and_no_kl(demo_logprobs):
    fit = fit_temperature(demo_logprobs, demo_logprobs)
    assert fit.global_t == 1.0 and set(fit.best_t) == {1.0}
    assert max(fit.kl_t1) == pytest.approx(0.0, abs=1e-9) and max(fit.kl_at_global_t) < 1e-9
    assert fit.summary()["share_explained"] is None  # nothing to explain


def test_a_temperature_beyond_the_bounds_is_flagged(demo_logprobs):
    fit = fit_temperature(demo_logprobs / 0.01, demo_logprobs)
    assert fit.global_t == pytest.approx(T_BOUNDS[0]) and fit.summary()["global_t_at_bound"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(2, 40), st.floats(0.5, 4.0))
def test_the_fit_is_the_minimum_of_a_grid(seed, rows, vocab, spread):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(rows, vocab)) * spread, rng.normal(size=(rows, vocab)) * spread
    fit = fit_temperature(a, b)
    la, lb = log_normalise(a), log_normalise(b)
    grid = np.exp(np.linspace(np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1]), 200))
    totals = [float(np.sum(kl_bits(la, tempered(lb, t)))) for t in grid]
    resid = math.fsum(fit.kl_at_global_t)
    assert resid <= min(totals) + 1e-9
    assert resid <= math.fsum(fit.kl_t1) + 1e-9
    for i in range(rows):  # each position's own T is at least as good as the shared one there
        assert fit.kl_best[i] <= fit.kl_at_global_t[i] + 1e-9
        own = [float(kl_bits(la[i : i + 1], tempered(lb[i : i + 1], t))[0]) for t in grid]
        assert fit.kl_best[i] <= min(own) + 1e-9


def test_the_fit_refuses_what_it_cannot_compare():
    with pytest.raises(FitError, match="shape"):
        fit_temperature(np.zeros((2, 5)), np.zeros((2, 6)))
    with pytest.raises(FitError, match="infinite"):
        fit_temperature(np.zeros((1, 3)), np.array([[0.0, 0.0, -np.inf]]))
    with pytest.raises(FitError, match="bounds"):
        fit_temperature(np.zeros((1, 3)), np.zeros((1, 3)), bounds=(1.5, 3.0))


# -- the experiment on the bundled pair -----------------------------------------------------


def test_one_forward_pass_gives_the_distribution_after_each_prefix(demo_backend):
    ids = demo_backend.context_tokens(PROMPT + " The miller").ids
    rows = demo_backend.position_logprobs(ids, [1, len(ids) - 1])
    for row, p in zip(rows, [1, len(ids) - 1]):
        step = demo_backend.next_token_distribution(demo_backend.tokenizer.decode(ids[:p]), 1)
        assert int(np.argmax(row)) == step.alternatives[0].token_id
        assert float(row.max()) == pytest.approx(step.alternatives[0].logprob, abs=1e-4)


def test_demo_against_itself_on_a_path(session, demo_backend):
    root = session.add_node(None, PROMPT, "prompt")
    kid = generate_children(session, demo_backend, root.id, GenerationParams(n=1, max_tokens=12, seed=2)).nodes[0]
    r = collapse(session, demo_backend, demo_backend, kid.id)
    s = r.to_dict()
    assert s["global_t"] == 1.0 and s["kl_t1"] == pytest.approx(0.0, abs=1e-9) and s["kl_residual"] < 1e-9
    assert s["positions"] == len(kid.tokens)
    assert [row["token_id"] for row in r.rows()] == [
        t.token_id for t in kid.tokens
    ]  # the sampled ids, none re-tokenised


def test_demo_wedding_against_demo_is_finite_and_stored(session, demo_backend, wedding):
    kid = wedding_path(session, wedding)
    r = collapse(session, wedding, demo_backend, kid, progress=None)
    s = r.to_dict()
    for key in ("global_t", "kl_t1", "kl_residual", "share_explained", "entropy_a_mean", "entropy_b_mean"):
        assert math.isfinite(s[key]), key
    assert T_BOUNDS[0] < s["global_t"] < T_BOUNDS[1]
    assert 0 <= s["kl_residual"] <= s["kl_t1"] and 0 <= s["share_explained"] <= 1
    assert s["entropy_a_mean"] < s["entropy_b_mean"]  # the tuned model is the sharper one on its own path
    rows = r.rows()
    assert len(rows) == s["positions"] == len(session.node(kid).tokens)
    assert list(rows[0]) == list(COLUMNS)
    assert all(isinstance(row[c], float) and math.isfinite(row[c]) for row in rows for c in COLUMNS[5:])
    rec = session.records("collapse")[-1]
    assert rec["id"] == r.record and rec["node_id"] == kid
    assert rec["params"]["tuned"] == wedding.identity() and rec["params"]["base"] == demo_backend.identity()
    assert rec["params"]["tuned"]["weights_sha256"] != rec["params"]["base"]["weights_sha256"]
    assert rec["result"]["global_t"] == s["global_t"] and len(rec["result"]["rows"]) == len(rows)


def test_only_the_node_and_a_prompt_without_model_tokens(session, demo_backend, wedding):
    kid = wedding_path(session, wedding, max_tokens=8)
    more = generate_children(session, wedding, kid, GenerationParams(n=1, max_tokens=6, seed=3)).nodes[0]
    assert collapse(session, wedding, demo_backend, more.id, save=False).fit.positions == 14
    assert collapse(session, wedding, demo_backend, more.id, scope="node", save=False).fit.positions == 6
    before = len(session.records())
    with pytest.raises(CollapseError, match="no model-written node"):
        collapse(session, wedding, demo_backend, session.node(kid).parent_id)
    assert len(session.records()) == before


def test_models_with_different_vocabularies_are_refused(session, demo_backend, tmp_path):
    """A real (tiny, random) model folder whose logits are over another vocabulary."""
    import shutil

    from transformers import GPT2Config, GPT2LMHeadModel

    from loom.backends.local import BUNDLED

    folder = tmp_path / "other-vocab"
    GPT2LMHeadModel(GPT2Config(vocab_size=4000, n_positions=64, n_embd=16, n_layer=1, n_head=2)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(BUNDLED["demo"] / name, folder / name)
    other = open_backend(str(folder))
    root = session.add_node(None, PROMPT, "prompt")
    with pytest.raises(CollapseError, match="different vocabularies"):
        collapse(session, other, demo_backend, root.id, scope="node")
    assert session.records("collapse") == []


def test_a_server_with_top_k_logprobs_is_refused_saying_why(session, demo_backend, fake_server):
    root = session.add_node(None, PROMPT, "prompt")
    remote = open_backend(f"openai:demo@{fake_server.url}")
    with pytest.raises(BackendError) as err:
        collapse(session, remote, demo_backend, root.id, scope="node")
    assert fake_server.generation == 0  # refused before asking the server anything
    text = str(err.value)
    assert "top" in text and "logprobs" in text and "KL" in text and "approximate" in text
    assert session.records("collapse") == []


# -- the faces -------------------------------------------------------------------------------


def test_cli_collapse_csv_plot_json(tmp_path, capsys, wedding, monkeypatch):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    path = tmp_path / "c.loom"
    with Session(path) as s:
        kid = wedding_path(s, wedding)
        s.set_state("model", "demo-wedding")  # the default tuned model: the session's
    csv_file, png, svg = tmp_path / "c.csv", tmp_path / "c.png", tmp_path / "c.svg"
    assert (
        main(["collapse", str(path), "--node", str(kid), "--base", "demo", "--csv", str(csv_file), "--plot", str(png)])
        == 0
    )
    out = capsys.readouterr().out
    assert "tuned demo-wedding, base demo" in out and "best single temperature" in out and "stored as record" in out
    df = pd.read_csv(csv_file)
    assert list(df.columns) == list(COLUMNS)
    numeric = [c for c in COLUMNS if c != "token"]
    assert all(pd.api.types.is_numeric_dtype(df[c]) for c in numeric), df.dtypes
    assert pd.api.types.is_integer_dtype(df["position"]) and np.isfinite(df[numeric].to_numpy()).all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert (
        main(
            [
                "collapse",
                str(path),
                "--node",
                str(kid),
                "--tuned",
                "demo-wedding",
                "--base",
                "demo",
                "--json",
                "--plot",
                str(svg),
                "--no-save",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["record"] is None and data["tuned"]["name"] == "demo-wedding" and len(data["rows"]) == len(df)
    ET.parse(svg)
    with Session(path) as s:
        recs = s.records("collapse")
        assert len(recs) == 1  # --no-save stored nothing
        assert data["global_t"] == recs[0]["result"]["global_t"]  # the same numbers on every run


def test_cli_refusals_change_nothing(tmp_path, capsys):
    path = tmp_path / "r.loom"
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt").id
    cases = [
        (["--node", str(root), "--base", "demo"], "no model-written node"),
        (["--node", "99", "--base", "demo"], "no node 99"),
        (["--node", str(root), "--base", "demo", "--only-node", "--plot", str(tmp_path / "f.pdf")], ".png or .svg"),
        (["--node", str(root), "--base", "no-such-model", "--only-node"], "no-such-model"),
    ]
    for extra, says in cases:
        assert main(["collapse", str(path), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("loom: error:") and says in err, (extra, err)
    with Session(path) as s:
        assert s.records() == []


def test_python_api_and_figure_with_hostile_token_text(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import loom

    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("api", "Costs $5 and $x^2$ \x1b[31m\u202e fine", model="demo-wedding")
    r = loom.collapse(s, base="demo", only_node=True, progress=False)
    assert isinstance(r, loom.CollapseResult) and r.record is not None
    assert r.tuned["name"] == "demo-wedding" and r.base["name"] == "demo"
    assert any("$" in row["token"] for row in r.rows())
    out = tmp_path / "hostile.svg"
    fig = r.plot(out)  # "$" is not mathtext, the escape is shown, not sent
    assert len(fig.axes) == 3 and len(fig.axes[0].lines[0].get_xdata()) == len(r.rows())
    text = out.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\u202e" not in text
    ET.parse(out)


async def test_app_key_runs_collapse_on_the_current_node(tmp_path, demo_backend, wedding, workers_done):
    from textual.widgets import DataTable, Static

    from loom.ui.app import LoomApp
    from loom.ui.screens.collapse import CollapseScreen

    s = Session(tmp_path / "ui.loom")
    kid = wedding_path(s, wedding, max_tokens=16)
    s.current = kid
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("V")
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, CollapseScreen)
        assert (screen.query_one("#tuned").value, screen.query_one("#base").value) == ("demo-wedding", "demo")
        await pilot.press("ctrl+r")
        await workers_done(pilot)
        assert screen.result is not None
        summary = str(screen.query_one("#summary", Static).render())
        assert "best single temperature" in summary and f"stored as record {screen.result.record}" in summary
        assert screen.query_one(DataTable).row_count == len(s.node(kid).tokens)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, CollapseScreen)
    assert s.records("collapse")[-1]["params"]["base"]["name"] == "demo"
    s.close()
