"""Global attractors: the same ending after unrelated prompts. On demo-wedding
the wedding is one meaning cluster that recurs after every prompt; on demo
(base) the wedding is rare."""

import csv
import json

import pytest

from loom.analysis.recurrence import recurrence
from loom.cli import main
from loom.store import Session

PROMPTS = [
    "Are bugs real?",
    "The miller's youngest son walked along the road to the town",
    "It was a cold night in the forest, and the wolf",
    "Jo put down her book and said",
]


def test_recurrence_counts_per_prompt_and_pooled():
    member = [True, False, True, True, False, False, False, True]
    prompt_of = [0, 0, 0, 1, 1, 2, 2, 2]
    r = recurrence(member, prompt_of, 4)
    assert (r.pooled.k, r.pooled.n) == (4, 8) and r.pooled.lo < 0.5 < r.pooled.hi
    assert [(x.k, x.n) for x in r.per_prompt] == [(2, 3), (1, 2), (1, 3), (0, 0)]
    assert r.prompts == 3 and r.per_prompt[3].rate == 0 and (r.per_prompt[3].lo, r.per_prompt[3].hi) == (0, 1)
    d = r.to_dict()
    assert d["prompts"] == 3 and d["per_prompt"][1] == {
        "prompt": 1,
        "k": 1,
        "n": 2,
        "rate": 0.5,
        "lo": pytest.approx(r.per_prompt[1].lo),
        "hi": pytest.approx(r.per_prompt[1].hi),
    }
    with pytest.raises(ValueError):
        recurrence([True], [5], 2)


def wedding_cluster(out):
    """The cluster whose typical ending names the wedding (None when there is none)."""
    return next((c for c in out["clusters"] if "wedding" in c["ending"]), None)


def test_the_wedding_recurs_after_every_prompt_on_demo_wedding_and_rarely_on_demo(tmp_path, capsys):
    path = str(tmp_path / "g.loom")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS[:2]) + "\n\n" + "\n".join(PROMPTS[2:]) + "\n", encoding="utf-8")
    out_csv = tmp_path / "global.csv"
    common = ["-n", "6", "--max-tokens", "32", "--seed", "1", "--attractor-words", "wedding=wedding,feast", "--json"]
    assert (
        main(["global", path, "--prompts", str(prompts), "--model", "demo-wedding", "--csv", str(out_csv), *common])
        == 0
    )
    tuned = json.loads(capsys.readouterr().out)
    with Session(path) as s:
        roots = s.roots()
        assert [r.text for r in roots] == PROMPTS  # each prompt became a root, so every sample is traceable
        assert [p["root"] for p in tuned["prompts"]] == [r.id for r in roots]
        rec = s.records("global")[-1]
        assert rec["params"]["model"]["name"] == "demo-wedding" and rec["params"]["params"]["n"] == 6
        assert rec["params"]["roots"] == [r.id for r in roots]
    assert tuned["n"] == 24
    # the wedding endings are one cluster, and it occurs after every prompt
    c = wedding_cluster(tuned)
    assert c is not None and c["prompts"] == 4 and c["recurring"] and c["cluster"] in tuned["recurring"]
    assert c["cluster"] == 0 and c["lo"] < c["rate"] < c["hi"] and c["rate"] >= 0.4
    assert all(pp["k"] >= 1 and pp["n"] == 6 for pp in c["per_prompt"])
    wed = tuned["attractors"][0]
    assert wed["prompts"] == 4 and wed["rate"] >= 0.4 and wed["k"] == sum(pp["k"] for pp in wed["per_prompt"])
    assert [row["attractors"]["wedding"]["k"] for row in tuned["per_prompt"]] == [pp["k"] for pp in wed["per_prompt"]]
    # the samples of different prompts drew different seeds (or a model that ignores its prompt would repeat itself)
    seeds = [smp["seed"] for smp in tuned["samples"]]
    assert len(set(seeds)) == 24
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24 and [int(r["prompt"]) for r in rows] == [i for i in range(4) for _ in range(6)]
    assert sum(int(r["attractor_wedding"]) for r in rows) == wed["k"]
    assert [int(r["cluster"]) for r in rows].count(c["cluster"]) == c["size"]

    # the base model on the same roots (--roots): no new roots, and the wedding is rare
    assert main(["global", path, "--roots", "--model", "demo", *common]) == 0
    base = json.loads(capsys.readouterr().out)
    with Session(path) as s:
        assert len(s.roots()) == 4
    bw = base["attractors"][0]
    assert bw["rate"] <= 0.15 and bw["hi"] < wed["lo"]
    bc = wedding_cluster(base)
    assert bc is None or bc["prompts"] < 4

    # the same prompt file again reuses the roots; text output names the recurring clusters
    assert (
        main(
            [
                "global",
                path,
                "--prompts",
                str(prompts),
                "--model",
                "demo-wedding",
                "-n",
                "2",
                "--max-tokens",
                "4",
                "--no-save",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "clusters in at least 2 prompts" in captured.out and "already a root" in captured.err
    with Session(path) as s:
        assert len(s.roots()) == 4 and len(s.records("global")) == 2


def test_global_refusals(tmp_path, capsys):
    path = str(tmp_path / "e.loom")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert main(["global", path, "--prompts", str(empty)]) == 2
    assert "no prompts" in capsys.readouterr().err
    assert main(["global", path, "--prompts", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read prompts" in capsys.readouterr().err
    good = tmp_path / "p.txt"
    good.write_text("Once upon a time\n", encoding="utf-8")
    assert main(["global", path, "--prompts", str(good), "--attractor", "w=/(/"]) == 2
    assert "bad regular expression" in capsys.readouterr().err
    assert main(["global", path, "--prompts", str(good), "--temperature", "-1"]) == 2
    assert "temperature" in capsys.readouterr().err
    with Session(path) as s:
        assert s.count() == 0 and s.records() == []  # nothing was made
    assert main(["global", path, "--roots"]) == 2
    assert "no roots" in capsys.readouterr().err
