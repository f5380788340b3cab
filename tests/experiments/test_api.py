"""The Python library: the same experiments, settings and records as the CLI."""

import csv
import io
import json
import signal
import threading
import time

import pytest

import loom
from loom.cli import main


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path))
    return tmp_path


def test_public_names_are_listed_and_load(folder):
    for name in loom.__all__:
        assert getattr(loom, name) is not None
    with pytest.raises(AttributeError):
        _ = loom.no_such_thing


def test_a_new_sessions_model_writes_its_branches(folder):
    s = loom.new_session("t", "Are bugs real?", model="demo-wedding")
    made = loom.generate(s, n=2, max_tokens=4, seed=1, progress=False)
    assert [n.model for n in made.nodes] == ["demo-wedding", "demo-wedding"]
    assert loom.settings(s).sources["model"] == "session"


def test_api_and_cli_give_the_same_numbers_for_one_record(folder, capsys):
    s = loom.new_session("t", "Are bugs real?", model="demo-wedding")
    r = loom.report(s, n=12, max_tokens=12, seed=3, progress=False)
    assert r.record is not None and r.overall["n"] == 12
    capsys.readouterr()
    assert main(["report", "t", "--open", str(r.record), "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)["result"]
    assert stored["overall"] == json.loads(json.dumps(r.to_dict()["overall"]))
    assert stored["clusters"] == json.loads(json.dumps(r.to_dict()["clusters"]))
    # the CLI's CSV of the same samples is the API's table, row for row
    for c in r.samples:  # keep them as branches so --existing reports on the same samples
        s.add_node(
            s.current, c.text, "model", model="demo-wedding", params={"temperature": c.temperature, "seed": c.seed}
        )
    api = loom.report(s, existing=True, save=False)
    out = folder / "r.csv"
    assert main(["report", "t", "--existing", "--no-save", "--csv", str(out)]) == 0
    assert out.read_bytes().decode("utf-8") == api.to_csv()
    rows = list(csv.DictReader(io.StringIO(api.to_csv())))
    assert len(rows) == 12 and {int(r["cluster"]) for r in rows} == {row["cluster"] for row in api.rows()}


def test_results_are_long_form_tables(folder):
    s = loom.new_session("t", "The fox went to the farm. It was hungry.", model="demo")
    sw = loom.sweep(s, k=2, kinds=["replace_word", "delete_sentence"], max_tokens=8, seed=2, progress=False)
    rows = sw.rows()
    assert len(rows) == 2 and all(isinstance(r["similarity"], float) for r in rows)
    assert sw.record in [rec["id"] for rec in s.records("sweep")]
    comp = loom.compare(s, sw.original_child, rows[0]["replay"])
    assert {r["side"] for r in comp.rows()} == {"a", "b"}
    pd = pytest.importorskip("pandas")
    df = sw.to_pandas()
    assert pd.api.types.is_float_dtype(df["similarity"]) and len(df) == 2


def test_an_interrupt_stops_the_run_and_keeps_what_finished(folder):
    s = loom.new_session("t", "Once upon a time", model="demo")
    seen: list[loom.Progress] = []

    def interrupt_after_some_tokens(p):
        # Ctrl-C as a notebook's stop button sends it, once the branches are under way
        seen.append(p)
        if len(seen) == 20:
            # to the main thread, as a terminal's Ctrl-C or a kernel's interrupt reaches it (a process-wide
            # kill from this worker thread may be taken by the worker and seen by the main thread only later)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(1.0)  # the run goes on only after the main thread has had time to take the interrupt

    # Python's own Ctrl-C handler, as in a terminal or a kernel (a shell starts background jobs with SIGINT ignored)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        made = loom.generate(s, n=2, max_tokens=400, seed=1, progress=interrupt_after_some_tokens)
    finally:
        signal.signal(signal.SIGINT, before)
    assert seen[0].unit == "tokens" and seen[0].total == 800
    assert made.cancelled and made.nodes and not any(n.complete for n in made.nodes)
    stored = {n.id for n in s.children(s.current)}
    assert {n.id for n in made.nodes} <= stored
