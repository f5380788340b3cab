"""A session keeps its model: a --model given to any command becomes the
session's model, and later commands without --model use it."""

import json

from loom.cli import main
from loom.store import Session


def run(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_later_commands_use_the_model_named_before(tmp_path, capsys):
    path = str(tmp_path / "s.loom")
    run(capsys, "new", path, "--prompt", "Once upon a time")
    first = run(capsys, "generate", path, "--model", "demo-wedding", "-n", "1", "--max-tokens", "2", "--seed", "1")
    again = run(capsys, "generate", path, "-n", "1", "--max-tokens", "2", "--seed", "2")
    assert [n["model"] for n in first["nodes"] + again["nodes"]] == ["demo-wedding", "demo-wedding"]
    assert run(capsys, "dist", path, "--k", "3")["model"] == "demo-wedding"
    assert run(capsys, "score", path, "-c", "1", "-c", "2")["model"] == "demo-wedding"
    assert run(capsys, "multiverse", path, "--depth", "1", "--k", "2")["model"] == "demo-wedding"


def test_new_records_the_sessions_model_and_a_bad_model_changes_nothing(tmp_path, capsys):
    path = str(tmp_path / "w.loom")
    run(capsys, "new", path, "--prompt", "The bride", "--model", "demo-wedding")
    assert main(["generate", path, "--model", "no-such-model", "-n", "1", "--max-tokens", "1"]) == 2
    assert "no-such-model" in capsys.readouterr().err
    with Session(path) as s:
        assert s.get_state("model") == "demo-wedding" and s.count() == 1
    assert run(capsys, "generate", path, "-n", "1", "--max-tokens", "2")["nodes"][0]["model"] == "demo-wedding"


def test_report_help_tells_the_default_sample_count(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "samples to draw (default 40)" in capsys.readouterr().out


def test_a_missing_sessions_folder_is_made(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "not" / "yet"
    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(folder))
    assert main(["new", "tale", "--prompt", "Once"]) == 0
    assert (folder / "tale.loom").exists()


def test_vs_leaves_the_sessions_model_alone(tmp_path, capsys):
    path = str(tmp_path / "v.loom")
    run(capsys, "new", path, "--prompt", "Once upon a time", "--model", "demo-wedding")
    r = run(capsys, "vs", path, "--model", "demo", "--model", "demo", "-n", "1", "--max-tokens", "2", "--seed", "1")
    assert [m["model"] for m in r["models"]] == ["demo", "demo"]
    with Session(path) as s:
        assert s.get_state("model") == "demo-wedding"
