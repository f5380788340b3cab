"""bench/results.json and the performance page: the page's table is the one bench/results.py makes
from the committed results.json (never typed), and a partial run replaces only its own figures."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from bench.report import Figure  # noqa: E402

FIELDS = {"target", "value", "unit", "baseline", "ratio", "met", "command", "date", "machine"}


def test_the_page_table_is_generated_from_the_committed_results():
    figures = results.load()
    assert figures, "bench/results.json holds no figures"
    text = results.PAGE.read_text()
    assert text == results.page(text, figures), "run `python -m bench.results` after changing bench/results.json"
    for fig in figures:
        assert FIELDS <= set(fig), (fig.get("what"), FIELDS - set(fig))


def test_a_run_replaces_its_own_figures_and_keeps_the_others(tmp_path):
    titles = {"a": "1. A", "b": "2. B"}
    first = results.merge(
        [],
        {"b": [Figure("2 b", "b's", 2.0, "s")], "a": [Figure("1 a", "old", 1.0, "s", "base", 2.0, "< 1 s", False)]},
        titles,
        command="python -m bench",
        date="2026-12-01T00:00:00+00:00",
        machine="here",
    )
    assert [f["what"] for f in first] == ["old", "b's"]  # in the targets' order
    assert first[0]["ratio"] == 2.0 and first[0]["met"] is False and FIELDS <= set(first[0])
    again = results.merge(
        first,
        {"a": [Figure("1 a", "new", 0.5, "s")]},
        titles,
        command="python -m bench --only a",
        date="d",
        machine="m",
    )
    assert [(f["what"], f["command"]) for f in again] == [
        ("new", "python -m bench --only a"),
        ("b's", "python -m bench"),
    ]
    path = tmp_path / "results.json"
    results.save(again, path)
    assert results.load(path) == again
    table = results.table(again)
    assert "| 1. A | new | 500.0 ms |" in table and "| 2. B | b's | 2.00 s |" in table
    assert "- `python -m bench --only a`, d, on m" in table
