"""The headless CLI as a user runs it: a real `loom` process on real files."""

import json


def test_new_generate_show_sessions(tmp_path, loom_process):
    r = json.loads(loom_process(tmp_path, "new", "tale", "--prompt", "Once upon a time", "--json").stdout)
    assert r["root"] == 1
    gen = json.loads(
        loom_process(tmp_path, "generate", "tale", "-n", "2", "--max-tokens", "4", "--seed", "1", "--json").stdout
    )
    assert len(gen["nodes"]) == 2 and all(n["parent"] == 1 for n in gen["nodes"])
    show = json.loads(loom_process(tmp_path, "show", "tale", "--node", str(gen["nodes"][0]["id"]), "--json").stdout)
    assert show["text"] == "Once upon a time" + gen["nodes"][0]["text"]
    rows = json.loads(loom_process(tmp_path, "sessions", "--json").stdout)
    assert [r["name"] for r in rows] == ["tale"] and rows[0]["nodes"] == 3


def test_bad_parameters_and_files_get_clear_messages(tmp_path, loom_process):
    loom_process(tmp_path, "new", "t", "--prompt", "x")
    r = loom_process(tmp_path, "generate", "t", "--temperature", "-1", check=False)
    assert r.returncode == 2 and "temperature must be" in r.stderr
    r = loom_process(tmp_path, "generate", "t", "-n", "0", check=False)
    assert r.returncode == 2 and "n must be" in r.stderr
    (tmp_path / "junk.loom").write_text("hello")
    r = loom_process(tmp_path, "show", "junk", check=False)
    assert r.returncode == 2 and "junk.loom" in r.stderr and "not an SQLite database" in r.stderr
    r = loom_process(tmp_path, "generate", "t", "--model", str(tmp_path / "nowhere"), check=False)
    assert r.returncode == 2 and "never downloads" in r.stderr
