"""Figures from every experiment: each result's plot() on real runs of the bundled
models (PNG and SVG written, real images, the right number of points and bars
in the returned Figure), hostile model text drawn literally, the CLI's --plot
(a bad suffix refused before anything runs) and --csv (numeric dtypes), and the
app's key that saves a result screen's figure beside the session."""

from __future__ import annotations

import warnings
from xml.etree import ElementTree as ET

import pytest

pytest.importorskip("matplotlib")
pd = pytest.importorskip("pandas")

from loom.analysis.attractors import parse_regex  # noqa: E402
from loom.analysis.report import Sample, build_report  # noqa: E402
from loom.cli import main  # noqa: E402
from loom.experiments.models import open_model  # noqa: E402
from loom.experiments.profile import path_profile  # noqa: E402
from loom.experiments.report import ReportResult, report  # noqa: E402
from loom.experiments.score import ScoreRuns, plot_scores, score  # noqa: E402
from loom.experiments.sweep import sweep  # noqa: E402
from loom.experiments.vs import compare_models  # noqa: E402
from loom.render.figures import report_figure, scores_figure, sweep_figure  # noqa: E402
from loom.render.plotting import check_figure  # noqa: E402
from loom.render.profiles import path_figure, versus_figure  # noqa: E402
from loom.render.svg import RenderError  # noqa: E402
from loom.store import Session  # noqa: E402
from loom.tree import GenerationParams  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
PROMPT = "Are bugs real?"
HOSTILE = "$\\alpha$ $\\nosuchcommand{$ <b>x</b> \x1b[31m red \u202e"  # bad mathtext: an error if parsed
CANDIDATES = [str(i) for i in range(12)]


def written(fig_path) -> None:
    """The file is a real PNG or SVG image."""
    if fig_path.suffix == ".png":
        assert fig_path.read_bytes()[:8] == PNG
    else:
        root = ET.parse(fig_path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "\x1b" not in fig_path.read_text(encoding="utf-8")


def draw_both(result_plot, tmp_path, name: str):
    """plot() to a PNG and an SVG; both real images; the Figure of the PNG."""
    fig = result_plot(tmp_path / f"{name}.png")
    result_plot(tmp_path / f"{name}.svg")
    written(tmp_path / f"{name}.png")
    written(tmp_path / f"{name}.svg")
    return fig


@pytest.fixture(scope="module")
def runs(tmp_path_factory, demo_backend, wedding):
    """One session with a real run of every experiment on the bundled pair (small sizes)."""
    s = Session(tmp_path_factory.mktemp("figures") / "bugs.loom")
    root = s.add_node(None, PROMPT, "prompt").id
    wed = parse_regex("wedding=/wedd|bride|marr/")
    params = GenerationParams(n=5, max_tokens=10, seed=3)
    out = {"session": s, "root": root}
    out["report"] = report(s, wedding, root, params, temperatures=[0.7, 1.0, 1.4], attractors=[wed], resamples=50)
    out["scores"] = [score(s, m, root, CANDIDATES) for m in (demo_backend, wedding)]
    out["vs"] = compare_models(s, [demo_backend, wedding], root, GenerationParams(n=2, max_tokens=8, seed=1))
    tale = s.add_node(None, "The fox went to the farm. It was hungry.", "prompt").id
    out["sweep"] = sweep(
        s,
        demo_backend,
        tale,
        3,
        kinds=["replace_word", "delete_sentence", "first_word"],
        params=GenerationParams(max_tokens=8, seed=2),
        seed=2,
    )
    out["branch"] = out["vs"].models[1].nodes[0].id
    return out


# -- each result's figure ---------------------------------------------------------------


def test_report_rate_against_temperature_has_a_point_per_temperature(runs, tmp_path):
    r = runs["report"]
    fig = draw_both(r.plot, tmp_path, "report")
    rate_ax, entropy_ax = fig.axes
    (bars,) = rate_ax.containers  # one series: the one defined attractor
    line = bars.lines[0]
    assert list(line.get_xdata()) == [0.7, 1.0, 1.4]
    wedding = r.report["attractors"][0]["temperatures"]
    assert list(line.get_ydata()) == pytest.approx([t["rate"] for t in wedding])
    lo, hi = bars.lines[2][0].get_segments()[0][:, 1]  # the first point's interval is its Wilson interval
    assert (lo, hi) == pytest.approx((wedding[0]["lo"], wedding[0]["hi"]))
    assert len(entropy_ax.containers[0].lines[0].get_xdata()) == 3  # semantic entropy per temperature
    assert "wedding" in rate_ax.get_legend().get_texts()[0].get_text()


def test_report_without_attractors_draws_the_biggest_cluster(runs, tmp_path):
    plain = runs["report"].regroup(0.2, 8, attractors=[])
    fig = plain.plot()
    (bars,) = fig.axes[0].containers
    c0 = plain.report["clusters"][0]["temperatures"]
    assert list(bars.lines[0].get_ydata()) == pytest.approx([t["rate"] for t in c0])
    assert "C0" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_report_at_one_temperature_is_a_bar_per_cluster(runs, tmp_path):
    r = runs["report"]
    at_one = [smp for smp in r.samples if smp.temperature == 1.4]
    one = ReportResult(
        r.node_id, at_one, build_report(at_one, 0.2, 8, **r.measure), None, None, "record", r.model, r.measure
    )
    fig = draw_both(one.plot, tmp_path, "one")
    clusters, attractors = fig.axes
    assert len(clusters.patches) == min(12, len(one.report["clusters"]))
    assert [p.get_width() for p in clusters.patches] == pytest.approx([c["rate"] for c in one.report["clusters"][:12]])
    assert len(attractors.patches) == 1 and attractors.patches[0].get_width() == pytest.approx(
        one.report["attractors"][0]["rate"]
    )


def test_score_strip_in_the_candidates_order_and_two_models_aligned(runs, tmp_path):
    a, b = runs["scores"]
    fig = draw_both(a.plot, tmp_path, "score")
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx(a.scores.probs)  # 0, 1, 2 ... in order
    both = draw_both(lambda path: plot_scores([a, b], path), tmp_path, "scores")
    assert [len(ax.patches) for ax in both.axes] == [len(CANDIDATES)] * 2
    assert [ax.get_title().split(" ·")[0] for ax in both.axes] == ["demo", "demo-wedding"]
    assert [p.get_height() for p in both.axes[1].patches] == pytest.approx(b.scores.probs)
    assert (
        both.axes[0].get_shared_x_axes().joined(both.axes[0], both.axes[1])
    )  # the same candidate, one above the other
    assert ScoreRuns([a, b]).plot().axes[1].get_title() == both.axes[1].get_title()


def test_vs_entropy_profile_per_branch_and_share_above_90(runs, tmp_path):
    v = runs["vs"]
    fig = draw_both(v.plot, tmp_path, "vs")
    a_ax, b_ax, share_ax = fig.axes
    for ax, m in ((a_ax, v.models[0]), (b_ax, v.models[1])):
        assert len(ax.lines) == len(m.nodes) == 2
        for line, node in zip(ax.lines, m.nodes):
            assert len(line.get_ydata()) == len(node.tokens)
            assert list(line.get_ydata()) == pytest.approx(m.entropies[node.id])
    assert [p.get_height() for p in share_ax.patches] == pytest.approx([m.share_sure for m in v.models])


def test_sweep_has_a_row_per_perturbation(runs, tmp_path):
    sw = runs["sweep"]
    fig = draw_both(sw.plot, tmp_path, "sweep")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 3 and all(it["status"] in lab for it, lab in zip(sw.items, labels))
    diverged, reconverged = ax.collections[-2:]  # the markers: where each replay diverged, where it came back
    assert len(diverged.get_offsets()) == sum(it["status"] != "identical" for it in sw.items)
    assert len(reconverged.get_offsets()) == sum(bool(it.get("reconvergence")) for it in sw.items)
    assert all(it["units"] > 0 and it["level"] in ("token", "word") for it in sw.items)


def test_path_profile_stored_and_exact(runs, tmp_path, demo_backend):
    s, node = runs["session"], runs["branch"]
    stored = path_profile(s, node)
    assert stored.record is None and not stored.exact  # nothing computed anew, nothing stored
    fig = draw_both(stored.plot, tmp_path, "path")
    prob_ax, ent_ax = fig.axes
    tokens = s.node(node).tokens
    assert [p.get_height() for p in prob_ax.patches] == pytest.approx([t.prob for t in tokens])
    assert len(ent_ax.lines[0].get_ydata()) == len(tokens)
    exact = path_profile(s, node, open_model("demo-wedding"))  # the model that wrote it
    assert exact.exact and exact.record is not None
    assert [r["entropy_bits"] for r in exact.rows()] == pytest.approx(runs["vs"].models[1].entropies[node])
    other = path_profile(s, node, demo_backend, save=False)  # another model's ids are not read as its own
    assert not other.exact and other.notices and "written by demo-wedding" in other.notices[0]


def test_a_figure_shows_itself_in_a_notebook(runs):
    fig = runs["scores"][0].plot()  # no path: nothing written, the Figure returned
    assert fig._repr_png_()[:8] == PNG


# -- hostile text, bad files --------------------------------------------------------------


def test_hostile_text_is_drawn_literally(tmp_path):
    from matplotlib.text import Text

    samples = [
        Sample(f"{HOSTILE} ending {i % 2}", [-0.1, -0.2], t, None, i) for i, t in enumerate([0.7, 0.7, 1.3, 1.3])
    ]
    rep = build_report(samples, attractors=[parse_regex("$x$=/alpha/")], resamples=10)
    one = build_report(samples[:2], attractors=[parse_regex("$x$=/alpha/")], resamples=10)
    cands = [{"text": HOSTILE, "prob": 0.6}, {"text": "$1$", "prob": 0.4}]
    entry = {"model": HOSTILE, "candidates": cands, "entropy_bits": 0.97, "answer": "text"}
    item = {
        "kind": "replace_word",
        "description": HOSTILE,
        "status": "reconverged",
        "divergence": 1,
        "reconvergence": [3, 3],
        "units": 6,
        "level": "token",
    }
    sweep_data = {"items": [item], "summary": {"reconverged": 1, "perturbations": 1, "identical": 0}, "run": 4}
    model = {
        "model": HOSTILE,
        "branches": [{"node": 1, "entropy": [1.0, None, 0.1], "prob": [0.2, 0.5, 0.95]}],
        "mean_entropy_bits": 0.55,
        "share_sure": 1 / 3,
    }
    rows = [{"node": 1, "token": tok, "prob": 0.5, "entropy_bits": 1.0} for tok in (HOSTILE, "$\\beta$", "\n")]
    figures = {
        "rates": lambda p: report_figure(rep, p, HOSTILE),
        "bars": lambda p: report_figure(one, p, HOSTILE),
        "scores": lambda p: scores_figure([entry, entry], p, HOSTILE),
        "sweep": lambda p: sweep_figure(sweep_data, p, HOSTILE),
        "vs": lambda p: versus_figure([model, model], p, HOSTILE),
        "path": lambda p: path_figure(rows, p, HOSTILE, HOSTILE),
    }
    for name, draw in figures.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig = draw_both(draw, tmp_path, name)
        assert not [w for w in caught if "missing from font" in str(w.message)], name  # every character drawable
        texts = [t.get_text() for t in fig.findobj(Text)]
        assert any("$\\nosuchcommand{$" in t for t in texts), name  # drawn as written, not as mathtext
        assert not any("\x1b" in t or "\u202e" in t for t in texts), name  # escapes shown as stand-ins
        assert any("\\x1b[31m" in t for t in texts) and any("<U+202E>" in t for t in texts), name
    path_fig = figures["path"](None)
    assert [t.get_text() for t in path_fig.axes[1].get_xticklabels()][1:] == ["$\\\\beta$", "\\n"]


def test_a_bad_suffix_or_nothing_to_draw_is_refused(tmp_path):
    for bad in ("f.pdf", "f", "f.png.txt"):
        with pytest.raises(RenderError, match=r"\.png or \.svg"):
            check_figure(tmp_path / bad)
    with pytest.raises(RenderError, match="no scored candidates"):
        scores_figure([], tmp_path / "s.png")
    with pytest.raises(RenderError, match="no model-written tokens"):
        path_figure([], tmp_path / "p.png")
    assert not list(tmp_path.iterdir())


# -- the CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["report", "S", "-n", "2", "--max-tokens", "4"],
        ["score", "S", "--preset", "numbers", "--compare-model", "demo-wedding"],
        ["sweep", "S", "-k", "1", "--max-tokens", "4"],
        ["vs", "S", "--model", "demo", "--model", "demo-wedding", "-n", "1", "--max-tokens", "4"],
        ["show", "S", "--model", "demo"],
        ["collapse", "S", "--base", "demo"],
    ],
)
def test_cli_plot_with_a_bad_suffix_exits_2_before_running(tmp_path, capsys, command):
    path = tmp_path / "s.loom"
    with Session(path) as s:
        s.add_node(None, PROMPT, "prompt")
    argv = [str(path) if a == "S" else a for a in command]
    assert main([*argv, "--plot", str(tmp_path / "figure.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loom: error:") and ".png or .svg" in err
    with Session(path) as s:
        assert s.records() == [] and s.count() == 1  # nothing ran, nothing was stored
    assert not (tmp_path / "figure.pdf").exists()


def numeric(df, text_columns) -> None:
    for column in df.columns:
        if column not in text_columns:
            assert pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(df[column]), (
                column,
                df.dtypes,
            )


def test_cli_csv_is_numeric_and_plot_is_written_for_every_command(tmp_path, capsys):
    path = tmp_path / "c.loom"
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt").id
        s.set_state("model", "demo-wedding")
    runs = {
        "report": [
            "report",
            str(path),
            "-n",
            "3",
            "--max-tokens",
            "6",
            "--temperatures",
            "0.7,1.4",
            "--seed",
            "1",
            "--attractor",
            "wedding=/wedd|marr/",
            "--resamples",
            "20",
        ],
        "score": [
            "score",
            str(path),
            "-c",
            "1",
            "-c",
            "2",
            "-c",
            "3",
            "--model",
            "demo",
            "--compare-model",
            "demo-wedding",
        ],
        "vs": [
            "vs",
            str(path),
            "--model",
            "demo",
            "--model",
            "demo-wedding",
            "-n",
            "1",
            "--max-tokens",
            "5",
            "--seed",
            "1",
        ],
        "sweep": ["sweep", str(path), "--node", str(root), "-k", "2", "--max-tokens", "5", "--seed", "1"],
    }
    text_columns = {
        "report": {"text"},
        "score": {"model", "answer"},
        "vs": {"model", "text"},
        "sweep": {"kind", "description", "status", "level", "text"},
        "show": {"token"},
    }
    for name, argv in runs.items():
        csv_file, fig = tmp_path / f"{name}.csv", tmp_path / f"{name}.{'svg' if name == 'vs' else 'png'}"
        assert main([*argv, "--csv", str(csv_file), "--plot", str(fig)]) == 0, name
        assert f"figure written to {fig}" in capsys.readouterr().out
        written(fig)
        df = pd.read_csv(csv_file)
        assert len(df), name
        numeric(df, text_columns[name])
    scores = pd.read_csv(tmp_path / "score.csv")
    assert list(scores["model"]) == ["demo"] * 3 + ["demo-wedding"] * 3
    assert scores.groupby("model")["prob"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    with Session(path) as s:
        branch = s.child_ids(root)[0]
    assert (
        main(
            [
                "show",
                str(path),
                "--node",
                str(branch),
                "--model",
                "demo",
                "--csv",
                str(tmp_path / "show.csv"),
                "--plot",
                str(tmp_path / "show.svg"),
            ]
        )
        == 0
    )
    assert "the profile is stored as record" in capsys.readouterr().out
    written(tmp_path / "show.svg")
    show = pd.read_csv(tmp_path / "show.csv")
    numeric(show, text_columns["show"])
    assert pd.api.types.is_integer_dtype(show["position"]) and show["entropy_bits"].notna().all()
    # a stored report and sweep are drawn again from their records
    with Session(path) as s:
        records = {r["kind"]: r["id"] for r in s.records()}
    for kind in ("report", "sweep"):
        again = tmp_path / f"again-{kind}.png"
        assert main(["report", str(path), "--open", str(records[kind]), "--plot", str(again)]) == 0
        written(again)
    assert main(["report", str(path), "--open", str(records["versus"]), "--plot", str(tmp_path / "x.png")]) == 2
    assert "draws a stored report or sweep" in capsys.readouterr().err
    # a stored report's table comes back as it was written when it ran; a sweep's is written by the sweep
    again = tmp_path / "again-report.csv"
    assert main(["report", str(path), "--open", str(records["report"]), "--csv", str(again)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again), pd.read_csv(tmp_path / "report.csv"))
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                str(path),
                "--open",
                str(records["sweep"]),
                "--csv",
                str(tmp_path / "y.csv"),
                "--plot",
                str(tmp_path / "y.png"),
            ]
        )
        == 2
    )
    assert "--csv with --open writes a stored report's table" in capsys.readouterr().err
    assert not (tmp_path / "y.csv").exists() and not (tmp_path / "y.png").exists()


# -- the app -----------------------------------------------------------------------------------


async def test_app_result_screens_save_their_figure_beside_the_session(runs, demo_backend):
    from loom.ui.app import LoomApp
    from loom.ui.figures import FIGURE_KEY
    from loom.ui.screens.candidates import CandidatesScreen
    from loom.ui.screens.collapse import CollapseScreen
    from loom.ui.screens.report import ReportScreen
    from loom.ui.screens.sweep import SweepScreen
    from loom.ui.screens.vs import VersusScreen

    s = runs["session"]
    folder = s.path.parent
    before = set(folder.glob("*.png"))
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(160, 48)) as pilot:
        screens = [
            ReportScreen(runs["report"], app.loom_theme, s),
            SweepScreen(runs["sweep"].to_dict(), s, app.loom_theme, runs["sweep"].record),
            VersusScreen(s, runs["root"], ("demo", "demo-wedding"), GenerationParams(n=1), app.loom_theme),
            CandidatesScreen(s, demo_backend, runs["root"], app.loom_theme),
        ]
        for screen in screens:
            app.push_screen(screen)
            await pilot.pause(0.1)
            assert any(b.key == FIGURE_KEY for b in screen.BINDINGS)
            if isinstance(screen, VersusScreen):
                await pilot.press(FIGURE_KEY)  # before a run: nothing to draw, and said so
                await pilot.pause(0.05)
                assert "Nothing to draw yet" in [n.message for n in app._notifications][-1]
                screen._show(runs["vs"])
            if isinstance(screen, CandidatesScreen):
                screen._show(runs["scores"][0])
            await pilot.press(FIGURE_KEY)
            await pilot.pause(0.1)
            saved = [n.message for n in app._notifications][-1]
            assert saved.startswith(str(folder)) and saved.endswith(".png")
            written(type(folder)(saved))
            app.pop_screen()
            await pilot.pause(0.05)
        names = sorted(p.name for p in set(folder.glob("*.png")) - before)
        assert names == sorted(
            [
                f"bugs-report-record{runs['report'].record}.png",
                f"bugs-sweep-record{runs['sweep'].record}.png",
                f"bugs-vs-record{runs['vs'].record}.png",
                f"bugs-score-record{runs['scores'][0].record}.png",
            ]
        )
        # again: a new file beside the first, never over it
        app.push_screen(ReportScreen(runs["report"], app.loom_theme, s))
        await pilot.pause(0.1)
        await pilot.press(FIGURE_KEY)
        await pilot.pause(0.1)
        assert [n.message for n in app._notifications][-1].endswith(f"-record{runs['report'].record}-2.png")
        app.pop_screen()
        collapse_screen = CollapseScreen(s, runs["root"], ("demo-wedding", "demo"))
        app.push_screen(collapse_screen)
        await pilot.pause(0.1)
        assert FIGURE_KEY in str(collapse_screen.query("Static.hint").first().render())


def test_forks_and_global_attractors_draw_their_figures(tmp_path, monkeypatch, capsys):
    """`loom forks --plot` and `loom global --plot`: a figure file from each, the
    points on the figure are the result's positions and prompts."""
    import loom
    from loom.cli import main

    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    s = loom.new_session("w", "Are bugs real?", model="demo-wedding")
    node = loom.generate(s, n=1, max_tokens=10, seed=11, progress=False).nodes[0]
    r = loom.forks(s, node.id, attractor="wedd|feast|marr", n=4, max_tokens=8, start=0, end=3, progress=False)
    fig = r.plot(tmp_path / "forks.svg")
    assert (tmp_path / "forks.svg").read_text().lstrip().startswith("<?xml")
    assert len(fig.axes[0].lines[0].get_xdata()) == len(r.to_dict()["positions"]) == 4
    g = loom.global_attractors(
        s, ["Are bugs real?", "Tell me a story."], n=4, max_tokens=10, attractors=["wedd|feast"], progress=False
    )
    fig = g.plot(tmp_path / "global.png")
    assert (tmp_path / "global.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes[0].patches) == 2  # one bar per prompt for the one attractor
    assert (
        main(
            [
                "forks",
                "w",
                "--node",
                str(node.id),
                "--attractor",
                "w=/wedd/",
                "--samples",
                "2",
                "--max-tokens",
                "4",
                "--from",
                "0",
                "--to",
                "1",
                "--plot",
                str(tmp_path / "f.png"),
            ]
        )
        == 0
    )
    assert "figure written to" in capsys.readouterr().out and (tmp_path / "f.png").exists()
    before = len(s.records())
    assert (
        main(["global", "w", "--roots", "-n", "2", "--plot", str(tmp_path / "g.gif")]) == 2
    )  # refused before sampling
    assert len(s.records()) == before
