"""The config file: where it is, what it holds, and clear messages when it is broken."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from loom.cli import main, sessions_dir
from loom.config import STARTER, ConfigError, config_path, default_model, load_config

FULL = """\
model = "local"
theme = "loom-colorblind"
sessions_dir = "~/loom-test-sessions"

[generation]
n = 6
temperature = 0.9
stop = ["\\n\\n"]

[keys]
generate = "ctrl+g"

[profiles.local]
base_url = "http://127.0.0.1:8080/v1"
model = "qwen2.5-7b"
api = "chat"
api_key_env = "MY_SERVER_KEY"
concurrency = 2
timeout = 30
[profiles.local.params]
temperature = 0.7
max_tokens = 64
[profiles.local.extra]
repetition_penalty = 1.1

[profiles.openai]
model = "gpt-3.5-turbo-instruct"
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    monkeypatch.delenv("LOOM_SESSIONS_DIR", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("MY_SERVER_KEY", raising=False)


def write(tmp_path: Path, text: str, monkeypatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LOOM_CONFIG", str(path))
    return path


def test_no_file_at_the_default_place_means_defaults(tmp_path):
    assert config_path() == tmp_path / "xdg" / "loom" / "config.toml"
    cfg = load_config()
    assert not cfg.exists and cfg.model == "demo" and cfg.profiles == {} and default_model() == "demo"
    assert cfg.generation_params().n == 4


def test_loom_config_names_the_file_and_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOM_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing.toml: config file not found \(named by \$LOOM_CONFIG\)"):
        load_config()


def test_full_file(tmp_path, monkeypatch):
    write(tmp_path, FULL, monkeypatch)
    cfg = load_config()
    assert cfg.model == "local" and default_model() == "local"
    assert cfg.theme == "loom-colorblind" and cfg.sessions_dir == Path("~/loom-test-sessions").expanduser()
    assert cfg.keys == {"generate": "ctrl+g"}
    p = cfg.profiles["local"]
    assert (p.base_url, p.model, p.api, p.api_key_env, p.concurrency, p.timeout) == (
        "http://127.0.0.1:8080/v1",
        "qwen2.5-7b",
        "chat",
        "MY_SERVER_KEY",
        2,
        30.0,
    )
    assert p.extra == {"repetition_penalty": 1.1}
    # loom's defaults < [generation] < the profile's params
    g = cfg.generation_params("local")
    assert (g.n, g.temperature, g.max_tokens, g.stop) == (6, 0.7, 64, ["\n\n"])
    assert cfg.generation_params().temperature == 0.9
    o = cfg.profiles["openai"]
    assert o.api == "completions" and o.api_key_env == "OPENAI_API_KEY"
    assert o.resolved_base_url() == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert o.resolved_base_url() == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "text,line,words",
    [
        ('model = "demo"\n[generation\nn = 3\n', 2, "not valid TOML"),
        ('model = "demo"\ncolour = "red"\n', 2, "colour: unknown setting"),
        (
            "[generation]\nn = 2\ntemperature = 20\n",
            3,
            "generation.temperature: temperature must be a number from 0 to 10",
        ),
        ("[generation]\nbeams = 2\n", 2, "generation.beams: unknown generation parameter"),
        (
            '\n[profiles.x]\nbase_url = "http://h/v1"\napi = "responses"\nmodel = "m"\n',
            4,
            "profiles.x.api: must be one of completions, chat",
        ),
        ('[profiles.x]\nbase_url = "http://h/v1"\n', 1, "profiles.x: needs `model`"),
        ('[profiles.x]\nmodel = "m"\nbase_url = "localhost:8080"\n', 3, "profiles.x.base_url: must be an http"),
        (
            '[profiles.x]\nmodel = "m"\nconcurrency = 0\n',
            3,
            "profiles.x.concurrency: must be a whole number from 1 to 64",
        ),
        (
            '[profiles.x]\nmodel = "m"\n\n[profiles.x.params]\nn = 0\n',
            5,
            "profiles.x.params.n: n must be a whole number",
        ),
        ('[profiles.demo]\nmodel = "m"\n', 1, "'demo' is a bundled model"),
        ("[keys]\ngenerate = 7\n", 2, "keys.generate: must be a non-empty text"),
        ('model = "demo"\nprofiles = 3\n', 2, "profiles: must be a table"),
    ],
)
def test_broken_config_names_file_line_and_problem(tmp_path, monkeypatch, text, line, words):
    path = write(tmp_path, text, monkeypatch)
    with pytest.raises(ConfigError) as err:
        load_config()
    msg = str(err.value)
    assert msg.startswith(str(path)) and words in msg
    assert f"line {line}" in msg


def test_cli_reports_a_broken_config(tmp_path, monkeypatch, capsys):
    write(tmp_path, "[generation]\nn = -1\n", monkeypatch)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loom: error: ") and "line 2" in err and "n must be" in err


def test_config_command_shows_place_and_settings_never_keys(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, FULL, monkeypatch)
    monkeypatch.setenv("MY_SERVER_KEY", "sk-secret-value-123")
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["path"] == str(path) and data["exists"] and data["model"] == "local"
    assert data["generation"]["n"] == 6 and data["keys"] == {"generate": "ctrl+g"}
    assert data["profiles"]["local"]["api_key_set"] is True and data["profiles"]["openai"]["api_key_set"] is False
    assert data["sessions_dir"] == str(Path("~/loom-test-sessions").expanduser())
    assert "sk-secret-value-123" not in out
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert f"config file: {path}" in text and "profile local: chat qwen2.5-7b" in text and "$MY_SERVER_KEY set" in text


def test_init_writes_a_starter_that_loads(tmp_path, capsys):
    assert main(["config", "--init"]) == 0
    path = tmp_path / "xdg" / "loom" / "config.toml"
    assert path.read_text(encoding="utf-8") == STARTER
    assert load_config().exists and load_config().model == "demo"
    assert main(["config", "--init"]) == 0
    assert "exists already" in capsys.readouterr().out


def test_sessions_dir_precedence(tmp_path, monkeypatch):
    write(tmp_path, f'sessions_dir = "{tmp_path / "from-config"}"\n', monkeypatch)
    args = argparse.Namespace(sessions_dir=None)
    assert sessions_dir(args) == tmp_path / "from-config"
    monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path / "from-env"))
    assert sessions_dir(args) == tmp_path / "from-env"
    assert sessions_dir(argparse.Namespace(sessions_dir=str(tmp_path / "flag"))) == tmp_path / "flag"


def test_models_lists_profiles_without_a_server(tmp_path, monkeypatch, capsys):
    write(tmp_path, FULL, monkeypatch)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "local" in out and "qwen2.5-7b" in out and "$MY_SERVER_KEY not set" in out and "(default)" in out
    assert main(["models", "--check", "nope"]) == 2
    assert "'nope' is not a profile" in capsys.readouterr().err
