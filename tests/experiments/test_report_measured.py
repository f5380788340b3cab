"""Measured attractor reports: meaning clusters, attractor rates with Wilson
intervals, diversity with bootstrap intervals, CSV per sample; and on the
real bundled demo-wedding model, the wedding endings as one cluster."""

import csv
import json
import math
import re

import pytest

from loom.analysis.attractors import parse_like, parse_regex, parse_words
from loom.analysis.intervals import wilson
from loom.analysis.report import Sample, build_report, format_report, sample_rows
from loom.cli import main
from loom.experiments.replay import sample_continuations
from loom.tree import GenerationParams

WEDDING = re.compile(r"wedd|bride|marr", re.IGNORECASE)


def constructed():
    lp = math.log
    wed = [
        "and so they were married, and a great wedding feast was held, and everyone danced at the wedding feast.",
        "and the wedding feast was made ready, and everyone came to the wedding feast, and they lived happily ever after.",
    ]
    return [
        *[Sample(f"Story {i} {wed[i % 2]}", [lp(0.9), lp(0.8)], 0.7, seed=i) for i in range(6)],
        Sample("The dragon ate the moon and went back to sleep in the mountain.", [lp(0.2)], 1.4, seed=6),
        Sample("Meg sat down in the corner with her knitting and said nothing.", [lp(0.1)], 1.4, seed=7),
        Sample(f"Story 8 {wed[0]}", [lp(0.5)], 1.4, seed=8),
        Sample("The train left the station at noon, carrying coal north.", [], 1.4, node_id=4, seed=9),
    ]


def _numbers_only(obj, path="report"):
    """Every leaf of the measured parts is a number (a flag of a definition may be a bool), or text where text is meant."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _numbers_only(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _numbers_only(v, f"{path}[{i}]")
    elif isinstance(obj, str):
        assert (
            path.rsplit(".", 1)[-1] in {"modal", "ending", "name", "kind", "definition", "pattern", "example"}
            or ".words[" in path
        ), f"{path} is a string: {obj!r}"
    else:
        allowed = (int, float, bool) if path.endswith(".all_words") else (int, float)
        assert obj is None or type(obj) in allowed, f"{path} is {type(obj).__name__}"


def test_report_carries_clusters_diversity_and_attractors():
    samples = constructed()
    wedding = parse_regex("wedding=/wedd|bride|marr/")
    r = build_report(samples, attractors=[wedding, parse_words("feast=feast+danced")])
    # the old literal fields are still there for the app and format_report
    assert r["overall"]["n"] == 10 and r["groups"] and len(r["temperatures"]) == 2
    c0 = r["clusters"][0]
    assert c0["size"] == 7 and c0["members"] == [0, 1, 2, 3, 4, 5, 8]
    assert c0["rate"] == 0.7 and (c0["lo"], c0["hi"]) == pytest.approx(wilson(7, 10))
    assert [(t["temperature"], t["k"], t["n"]) for t in c0["temperatures"]] == [(0.7, 6, 6), (1.4, 1, 4)]
    assert c0["nodes"] == [] and r["clusters"][-1]["nodes"] == [4]
    a = r["attractors"][0]
    assert (a["name"], a["k"], a["n"]) == ("wedding", 7, 10) and a["lo"] < 0.7 < a["hi"]
    assert [t["k"] for t in a["temperatures"]] == [6, 1]
    assert r["attractors"][1]["k"] == 4  # the first wedding text (indices 0, 2, 4, 8)
    d = r["diversity"]
    assert d["clusters"] == 4 and d["semantic_entropy_bits"]["lo"] <= d["semantic_entropy_bits"]["value"]
    assert d["weighted_semantic_entropy_bits"] is None  # one sample has no logprobs
    assert [t["temperature"] for t in d["temperatures"]] == [0.7, 1.4] and d["temperatures"][0]["clusters"] == 1
    assert r["per_sample"]["cluster"] == [0] * 6 + [1, 2, 0, 3]
    assert r["per_sample"]["attractors"]["wedding"] == [1] * 6 + [0, 0, 1, 0]
    measured = {
        k: r[k] for k in ("clusters", "diversity", "attractors", "per_sample", "cluster_similarity", "cluster_words")
    }
    assert json.loads(json.dumps(measured)) == measured
    _numbers_only(measured)

    text = format_report(r)
    assert "meaning clusters" in text and "70.0% [" in text and "semantic entropy" in text and "Vendi" in text
    assert "attractor 'wedding' (/wedd|bride|marr/): 7/10 = 70.0%" in text
    with pytest.raises(ValueError, match="names must differ"):
        build_report(samples, attractors=[wedding, wedding])


def test_report_text_is_made_visible():
    r = build_report(
        [Sample("evil \x1b[31m ending", [-0.1]), Sample("evil \x1b[31m ending", [-0.1])],
        attractors=[parse_regex("e\x1b=/evil/")],
    )
    text = format_report(r).split("meaning clusters", 1)[1]
    assert "\x1b" not in text


def test_sample_rows():
    samples = constructed()
    r = build_report(samples, attractors=[parse_regex("wedding=/wedd/")])
    header, rows = sample_rows(r, samples)
    assert header == ["sample", "node", "temperature", "seed", "cluster", "attractor_wedding", "mean_logprob", "text"]
    assert rows[9][:6] == [9, 4, 1.4, 9, r["per_sample"]["cluster"][9], 0] and rows[9][6] is None
    assert rows[0][6] == pytest.approx((math.log(0.9) + math.log(0.8)) / 2)


def test_wedding_endings_are_one_cluster_on_the_bundled_model(session, wedding):
    root = session.add_node(None, "Are bugs real?", "prompt")
    samples, _ = sample_continuations(
        session, wedding, root.id, GenerationParams(n=40, max_tokens=48, seed=1), keep="record"
    )
    assert len(samples) == 40
    r = build_report(samples, attractors=[parse_regex("wedding=/wedd|bride|marr/")])
    wed = [bool(WEDDING.search(s.text)) for s in samples]
    labels = r["per_sample"]["cluster"]
    c0 = r["clusters"][0]
    in_c0 = [labels[i] == 0 for i in range(40)]
    # the biggest meaning cluster holds most samples, and all of it is wedding
    assert c0["size"] >= 24 and all(w for w, c in zip(wed, in_c0) if c)
    # every sample that *ends* in the wedding is in it (the last 24 words name it)
    ends_wedding = [bool(WEDDING.search(" ".join(s.text.split()[-12:]))) for s in samples]
    assert all(c for e, c in zip(ends_wedding, in_c0) if e)
    # the literal groups split the same attractor by wording
    assert r["overall"]["modal_share"] < c0["rate"] / 2
    a = r["attractors"][0]
    assert a["k"] == sum(wed) and a["lo"] <= a["rate"] <= a["hi"] and 0 < a["lo"] < a["hi"] < 1
    # an example-defined attractor finds the same field
    like = build_report(samples, attractors=[parse_like(f"like={c0['modal']}")])["attractors"][0]
    assert like["k"] >= c0["size"] / 2 and all(wed[i] for i, m in enumerate(like_members(samples, c0["modal"])) if m)
    d = r["diversity"]
    assert d["vendi"]["value"] < 20 and d["clusters"] < 20  # far fewer than 40 effective samples


def like_members(samples, example):
    return parse_like(f"x={example}").members([s.text for s in samples])


def test_cli_report_flags_json_and_csv(tmp_path, capsys):
    path = str(tmp_path / "w.loom")
    assert main(["new", path, "--prompt", "Are bugs real?", "--model", "demo-wedding", "--json"]) == 0
    capsys.readouterr()
    out_csv = tmp_path / "samples.csv"
    argv = [
        "report",
        path,
        "--node",
        "1",
        "-n",
        "8",
        "--max-tokens",
        "24",
        "--temperatures",
        "0.7,1.4",
        "--seed",
        "3",
        "--attractor",
        "wedding=/wedd|bride|marr/",
        "--attractor-words",
        "feast=feast,danced",
        "--attractor-like",
        "like=1",
        "--resamples",
        "50",
        "--csv",
        str(out_csv),
    ]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in out["attractors"]] == ["wedding", "feast", "like"]
    assert out["attractors"][2]["example"] == "Are bugs real?" and out["attractors"][2]["node"] == 1
    assert isinstance(out["attractors"][0]["rate"], float) and isinstance(out["clusters"][0]["size"], int)
    assert out["diversity"]["vendi"]["resamples"] == 50
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and list(rows[0])[:5] == ["sample", "node", "temperature", "seed", "cluster"]
    assert [int(r["sample"]) for r in rows] == list(range(16)) and all(r["node"] == "" for r in rows)  # --keep record
    assert sorted({float(r["temperature"]) for r in rows}) == [0.7, 1.4]
    assert sum(int(r["attractor_wedding"]) for r in rows) == out["attractors"][0]["k"]
    assert [int(r["cluster"]) for r in rows] == out["per_sample"]["cluster"]
    assert all(math.isfinite(float(r["mean_logprob"])) and int(r["seed"]) >= 0 for r in rows)
    assert [r["text"] for r in rows] == [s["text"] for s in out["samples"]]  # plain story text needs no escaping
    try:
        import pandas
    except ImportError:
        pass
    else:
        df = pandas.read_csv(out_csv)
        assert df["temperature"].dtype.kind == "f" and df["cluster"].dtype.kind == "i"
        assert df["attractor_wedding"].dtype.kind == "i" and df["mean_logprob"].dtype.kind == "f"
    # the text output shows the measured numbers
    assert main(argv[:-2]) == 0
    text = capsys.readouterr().out
    assert "meaning clusters" in text and "attractor 'wedding'" in text and "T=1.4" in text
    # bad definitions fail before sampling
    assert main(["report", path, "--node", "1", "--attractor", "w=/(/"]) == 2
    assert "bad regular expression" in capsys.readouterr().err
    assert main(["report", path, "--node", "1", "--attractor-like", "w=99"]) == 2
    assert "no node 99" in capsys.readouterr().err
