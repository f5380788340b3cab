"""One resolver: flag, then the session's own settings, then the model's profile,
then the config file, then loom's defaults; each value says where it came from."""

import pytest

from loom.config import load_config
from loom.experiments.settings import resolve
from loom.store import Session
from loom.tree import GenerationParams, ParamError

CONFIG = """\
model = "server"

[generation]
n = 6
temperature = 0.9
top_k = 40

[profiles.server]
base_url = "http://127.0.0.1:9/v1"
model = "m"
[profiles.server.params]
temperature = 0.7
max_tokens = 64
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def test_each_value_from_the_first_place_that_sets_it(tmp_path, config):
    with Session(tmp_path / "s.loom") as s:
        r = resolve(s, config=config)
        assert r.model == "server" and r.sources["model"].startswith("config ")
        assert (r.params.temperature, r.sources["temperature"]) == (0.7, "profile server")
        assert (r.params.max_tokens, r.sources["max_tokens"]) == (64, "profile server")
        assert (r.params.n, r.params.top_k) == (6, 40) and r.sources["n"].startswith("config ")
        assert r.sources["top_p"] == "default" and r.params.top_p == 1.0

        s.set_state("params", {"temperature": 0.3})
        s.set_state("model", "demo")
        r = resolve(s, config=config)
        assert r.model == "demo" and r.sources["model"] == "session"
        assert (r.params.temperature, r.sources["temperature"]) == (0.3, "session")
        assert r.params.max_tokens == GenerationParams().max_tokens  # the profile is the session model's: none for demo

        r = resolve(s, model="server", flags={"temperature": 1.2, "n": None}, experiment={"n": 40}, config=config)
        assert (r.model, r.sources["model"]) == ("server", "flag")
        assert (r.params.temperature, r.sources["temperature"]) == (1.2, "flag")
        assert (r.params.n, r.sources["n"]) == (40, "experiment")
        assert r.params.model == "server"


def test_a_bad_value_is_refused_with_its_reason(tmp_path, config):
    with Session(tmp_path / "s.loom") as s:
        with pytest.raises(ParamError, match="temperature"):
            resolve(s, flags={"temperature": -1}, config=config)


def test_loom_config_shows_where_each_value_comes_from(tmp_path, capsys, monkeypatch):
    import json

    from loom.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("LOOM_CONFIG", str(cfg))
    path = tmp_path / "s.loom"
    with Session(path) as s:
        s.add_node(None, "Once", "prompt")
        s.set_state("params", {"seed": 9})
    assert main(["config", "--session", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["resolved"]
    assert got["model"] == "server" and got["params"]["temperature"] == 0.7
    assert got["sources"]["temperature"] == "profile server" and got["sources"]["seed"] == "session"
    assert main(["config", "--session", str(path)]) == 0
    assert "from profile server" in capsys.readouterr().out
