"""Forking tokens and the point of no return: the pure tests (mixture, change
points, the basin's edge) on constructed series, and the experiment on a path
that demo-wedding decides at a known word (tests/wedding_path.py)."""

import csv
import json
import math

import pytest
from wedding_path import DECIDING, WEDDING, wedding_path

from loom.analysis.attractors import parse_regex
from loom.analysis.forks import changes, holm, mix, mix_shares, point_of_no_return, two_proportion_test
from loom.cli import main
from loom.experiments.forks import ForksError, ForksResult, forks
from loom.store import Session
from loom.tree import GenerationParams

# -- the pure parts ----------------------------------------------------------------


def test_the_mixture_weights_each_token_by_its_probability():
    m = mix([(0.6, 8, 8), (0.2, 0, 8), (0.2, 4, 8)])
    assert m.rate == pytest.approx(0.6 * 1 + 0.2 * 0 + 0.2 * 0.5)
    assert m.n_eff == pytest.approx(1 / ((0.36 + 0.04 + 0.04) / 8))  # Kish: 1 / sum(w^2 / n)
    assert m.lo < m.rate < m.hi and m.mass == pytest.approx(1.0)
    # renormalised over the tokens evaluated; the mass says how much of the distribution they hold
    part = mix([(0.3, 8, 8), (0.1, 0, 8)])
    assert part.rate == pytest.approx(0.75) and part.mass == pytest.approx(0.4)
    one = mix([(0.99, 10, 10)])
    assert one.rate == 1.0 and one.n_eff == pytest.approx(10) and one.hi == 1.0 and one.lo < 1.0
    assert mix([]).n_eff == 0 and (mix([]).lo, mix([]).hi) == (0.0, 1.0)
    assert mix_shares([(0.75, [0, 0, 1, 1]), (0.25, [2, 2])]) == pytest.approx({0: 0.375, 1: 0.375, 2: 0.25})


def test_the_two_proportion_test_and_holm():
    z, p = two_proportion_test(0.2, 50, 0.5, 50)
    assert z == pytest.approx(0.3 / math.sqrt(0.35 * 0.65 * (2 / 50)))
    assert p == pytest.approx(math.erfc(z / math.sqrt(2))) and 0.001 < p < 0.002
    assert two_proportion_test(1.0, 10, 1.0, 10) == (0.0, 1.0)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def position(p, k, n, others=()):
    """A position's branches: the path's token (probability, hits, samples), then its alternatives."""
    return [(p, k, n), *others]


def test_the_change_point_test_finds_the_one_forking_token_in_a_synthetic_series():
    flat = [position(0.5, 3, 10, [(0.3, 3, 10), (0.2, 2, 10)])] * 8  # the token leads where its alternatives do
    decisive = position(0.1, 10, 10, [(0.5, 2, 10), (0.3, 1, 10), (0.1, 2, 10)])  # an unlikely token into the attractor
    basin = [position(0.99, 10, 10)] * 4  # nothing else was likely enough to continue: no test
    found = changes(flat + [decisive] + basin)
    assert [c.index for c in found if c.fork] == [8]
    c = found[8]
    assert c.before == pytest.approx(mix(decisive).rate) and c.after == 1.0
    assert c.others == pytest.approx((0.5 * 0.2 + 0.3 * 0.1 + 0.1 * 0.2) / 0.9)
    # o_t+1 - o_t = (1 - p)(r_token - r_others)
    assert c.change == pytest.approx(0.9 * (1.0 - c.others))
    # Holm over the nine positions tested; the basin's untested positions are not in the family
    z, p = two_proportion_test(c.others, mix(decisive[1:]).n_eff, 1.0, 10)
    assert (c.z, c.p_value) == pytest.approx((z, p)) and c.p_adjusted == pytest.approx(min(1.0, 9 * p))
    assert all(x.p_adjusted == 1.0 and not x.fork for x in found[9:])
    # a likely token whose continuations differ from its alternatives' barely moves the rate: no fork
    likely = position(0.95, 200, 200, [(0.05, 0, 200)])
    moved = changes([likely])[0]
    assert moved.p_adjusted < 1e-6 and moved.change == pytest.approx(0.05) and not moved.fork
    assert changes([likely], min_change=0.05)[0].fork
    # the same unlikely turn seen from four continuations each is not significant over a long path
    weak = changes([position(0.5, 1, 4, [(0.5, 1, 4)])] * 20 + [position(0.1, 4, 4, [(0.9, 1, 4)])])
    assert not any(x.fork for x in weak) and weak[-1].change > 0.5
    with pytest.raises(ValueError, match="alpha"):
        changes([decisive], alpha=0)


def test_the_point_of_no_return_on_a_constructed_series():
    assert point_of_no_return([0.1, 0.5, 0.95, 0.8, 0.92, 1.0, 0.97]) == 4  # 0.95 at 2 falls back below
    assert point_of_no_return([0.1, 0.5, 0.95, 0.8, 0.92, 1.0, 0.97], share=0.75) == 2
    assert point_of_no_return([0.95, 0.99]) == 0
    assert point_of_no_return([0.95, 0.5]) is None and point_of_no_return([]) is None
    assert point_of_no_return([0.0, 0.9], share=0.9) == 1  # "at least" the share
    with pytest.raises(ValueError, match="share"):
        point_of_no_return([0.5], share=0)


# -- on the bundled collapsed model -----------------------------------------------


@pytest.fixture(scope="module")
def path(tmp_path_factory, wedding):
    s = Session(tmp_path_factory.mktemp("forks") / "f.loom")
    root, child = wedding_path(s, wedding)
    yield s, root, child
    s.close()


@pytest.fixture(scope="module")
def decided(path, wedding):
    """Positions 5-10: the ramble's last word, the comma, " until", then the wedding turn."""
    s, _, child = path
    return forks(
        s,
        wedding,
        child.id,
        GenerationParams(n=10, max_tokens=8, seed=1),
        attractor=parse_regex(WEDDING),
        alternatives=2,
        start=5,
        end=10,
    )


def test_the_fork_is_at_the_word_where_demo_wedding_decides(path, decided):
    s, _, child = path
    assert child.tokens[DECIDING].text == " until" and child.tokens[DECIDING].prob < 0.2
    rate = {p.position: m.rate for p, m in zip(decided.positions, decided.measured.mixed)}
    assert sorted(rate) == list(range(5, 11))
    # before the deciding word the wedding is unlikely; once it is written, nearly certain
    before = [rate[i] for i in range(5, DECIDING + 1)]
    after = [rate[i] for i in range(DECIDING + 1, 11)]
    assert max(before) < 0.6 and sum(before) / len(before) < 0.4
    assert min(after) >= 0.8 and sum(after) / len(after) >= 0.9
    # the path's own " until" leads to the wedding; the alternatives the model preferred there mostly do not
    at = decided.positions[DECIDING - 5]
    hits = decided.measured.hits[DECIDING - 5]
    assert at.chosen.token == " until" and hits[0] >= 8
    assert sum(hits[1:]) <= 0.5 * sum(len(b.texts) for b in at.branches[1:])
    # the one fork found is at that word, and the basin begins right after it
    assert [f["position"] for f in decided.forks] == [DECIDING]
    f = decided.forks[0]
    assert f["token"] == " until" and f["node"] == child.id and f["index"] == DECIDING and f["p_adjusted"] < 0.05
    assert f["before"] < 0.6 <= 0.8 <= f["after"]
    assert decided.point_of_no_return["position"] in (DECIDING + 1, DECIDING + 2)


def test_the_result_is_stored_with_the_model_and_settings_and_reads_back(path, decided, wedding):
    s, _, child = path
    rec = next(r for r in s.records("forks") if r["id"] == decided.record)
    assert rec["node_id"] == child.id
    p = rec["params"]
    assert p["model"] == wedding.identity() and p["model"]["weights_sha256"]
    assert p["params"]["n"] == 10 and p["params"]["max_tokens"] == 8 and p["params"]["seed"] == 1
    assert (p["samples"], p["alternatives"], p["start"], p["end"], p["share"]) == (10, 2, 5, 10, 0.9)
    assert p["attractor"]["pattern"] == "wedd|feast|marr" and p["context"]["form"] == "ids"
    again = ForksResult.from_record(rec)
    assert json.loads(json.dumps(again.to_dict())) == json.loads(json.dumps(decided.to_dict()))
    # measured again with an attractor nothing reaches: nothing sampled, no fork, no basin
    none = decided.remeasure(parse_regex("x=/zebra/"))
    assert none.forks == [] and none.point_of_no_return is None
    assert all(m.rate == 0 for m in none.measured.mixed) and none.record == decided.record


def test_rows_are_one_per_position_and_token_with_numeric_columns(decided):
    rows = decided.rows()
    assert len(rows) == sum(len(p.branches) for p in decided.positions)
    assert {"position", "token", "p_token", "attractor_rate", "rate_low", "rate_high", "is_fork"} <= set(rows[0])
    for r in rows:
        assert isinstance(r["position"], int) and isinstance(r["p_token"], float) and r["is_fork"] in (0, 1)
        assert 0 <= r["rate_low"] <= r["attractor_rate"] <= r["rate_high"] <= 1
    assert {r["position"] for r in rows if r["is_fork"]} == {DECIDING}
    chosen = [r for r in rows if r["chosen"]]
    assert [r["position"] for r in chosen] == list(range(5, 11))
    assert min(r["position"] for r in rows if r["no_return"]) == decided.point_of_no_return["position"]


def test_without_an_attractor_the_outcome_is_the_biggest_meaning_cluster(path, wedding):
    s, _, child = path
    r = forks(
        s, wedding, child.id, GenerationParams(n=3, max_tokens=6, seed=2), start=8, end=9, alternatives=1, save=False
    )
    assert r.measured.outcome["kind"] == "cluster" and r.measured.outcome["clusters"] >= 1
    for d in r.to_dict()["positions"]:
        assert sum(d["clusters"].values()) == pytest.approx(1.0) and d["rate"] == pytest.approx(
            d["clusters"].get("0", 0)
        )
    assert r.record is None


def test_cancel_keeps_the_positions_that_finished(path, wedding):
    s, _, child = path
    before = len(s.records("forks"))
    from loom.experiments.base import Cancel

    cancel = Cancel()
    seen = []

    def stop_after_one(p):
        seen.append(p)
        cancel.set()

    r = forks(
        s,
        wedding,
        child.id,
        GenerationParams(n=2, max_tokens=4, seed=3),
        attractor=parse_regex(WEDDING),
        start=9,
        end=12,
        progress=stop_after_one,
        cancel=cancel,
    )
    assert r.cancelled and [p.position for p in r.positions] == [9]
    assert seen[0].unit == "positions" and seen[0].total == 4 and seen[0].done == 1
    assert len(s.records("forks")) == before + 1 and s.records("forks")[-1]["result"]["cancelled"]


def test_refusals_change_nothing(path, wedding, demo_backend):
    s, root, child = path
    before = (len(s.records()), s.count())
    with pytest.raises(ForksError, match="demo-wedding"):  # another model's alternatives and probabilities
        forks(s, demo_backend, child.id, GenerationParams(n=1, max_tokens=2))
    with pytest.raises(ForksError, match="no model-written tokens"):
        forks(s, wedding, root.id, GenerationParams(n=1, max_tokens=2))
    with pytest.raises(ForksError, match="from 0 to 31"):
        forks(s, wedding, child.id, GenerationParams(n=1, max_tokens=2), start=30, end=40)
    with pytest.raises(ForksError, match="stride"):
        forks(s, wedding, child.id, GenerationParams(n=1, max_tokens=2), stride=0)
    with pytest.raises(ValueError, match="share"):
        forks(s, wedding, child.id, GenerationParams(n=1, max_tokens=2), share=1.5)
    assert (len(s.records()), s.count()) == before


def test_cli_forks_json_csv_and_errors(path, tmp_path, capsys):
    s, root, child = path
    file = str(s.path)
    out_csv = tmp_path / "forks.csv"
    argv = [
        "forks",
        file,
        "--node",
        str(child.id),
        "--attractor",
        WEDDING,
        "--samples",
        "3",
        "--max-tokens",
        "6",
        "--from",
        "8",
        "--to",
        "9",
        "--alternatives",
        "1",
        "--seed",
        "4",
        "--csv",
        str(out_csv),
    ]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["position"] for p in out["positions"]] == [8, 9] and out["record"] is not None
    assert isinstance(out["positions"][0]["rate"], float) and "point_of_no_return" in out and "forks" in out
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["position"]) for r in rows] == [p["position"] for p in out["positions"] for _ in p["alternatives"]]
    assert all(0 <= float(r["attractor_rate"]) <= 1 and r["is_fork"] in ("0", "1") for r in rows)
    assert main(argv[:-2]) == 0
    text = capsys.readouterr().out
    assert "point of no return" in text and "' at'" in text
    before = len(s.records())
    for bad, message in (
        (["--from", "99"], "positions must lie"),
        (["--attractor", "a=/x/", "--attractor", "b=/y/"], "one attractor"),
        (["--attractor", "w=/(/"], "bad regular expression"),
        (["--share", "2"], "share"),
        (["--node", "999"], "999"),
    ):
        assert main(["forks", file, "--node", str(child.id), "--samples", "1", "--max-tokens", "1", *bad]) == 2
        assert message in capsys.readouterr().err
    assert main(["forks", file, "--node", str(root.id)]) == 2
    assert "no model-written tokens" in capsys.readouterr().err
    assert len(s.records()) == before


def test_the_python_api_runs_forks_and_global_attractors(path, tmp_path):
    import loom
    from loom.experiments.global_attractors import GlobalResult

    s, _, child = path
    r = loom.forks(s, child.id, attractor="wedd|feast|marr", start=8, end=9, n=2, max_tokens=4, seed=5, progress=False)
    assert isinstance(r, loom.ForksResult) and [p.position for p in r.positions] == [8, 9]
    assert r.params.n == 2 and r.params.max_tokens == 4 and r.model["name"] == "demo-wedding"
    assert (
        r.record == s.records("forks")[-1]["id"] and s.get_state("model") is None
    )  # the path's model, not made the session's
    g = Session(tmp_path / "g.loom")
    first = g.add_node(None, "Are bugs real?", "prompt")
    out = loom.global_attractors(
        g,
        ["Are bugs real?", "Once upon a time"],
        model="demo-wedding",
        n=2,
        max_tokens=4,
        seed=1,
        attractors=["wedd"],
        progress=False,
    )
    assert isinstance(out, GlobalResult) and [p["root"] for p in out.prompts][0] == first.id and len(g.roots()) == 2
    assert len(out.rows()) == 4 and out.measured["attractors"][0]["n"] == 4
    g.close()
