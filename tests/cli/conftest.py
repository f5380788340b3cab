"""What the CLI tests share: a config whose profile points at the fake server."""

import pytest


@pytest.fixture
def server_profile(tmp_path, monkeypatch, fake_server):
    """server_profile(name, key, base_url=None, **options) writes tmp_path/config.toml
    with one profile on the fake server (model "demo"; base_url defaults to the
    server's), makes the server require `key` and gives it in OPENAI_API_KEY, and
    points LOOM_CONFIG and LOOM_SESSIONS_DIR (tmp_path/sessions) there. Returns
    the config file."""

    def write(name: str, key: str, base_url: str | None = None, **options):
        fake_server.api_key = key
        lines = [f"[profiles.{name}]", 'model = "demo"', f'base_url = "{base_url or fake_server.url}"']
        lines += [f"{option} = {value}" for option, value in options.items()]
        config = tmp_path / "config.toml"
        config.write_text("\n".join(lines) + "\n")
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("LOOM_CONFIG", str(config))
        monkeypatch.setenv("LOOM_SESSIONS_DIR", str(tmp_path / "sessions"))
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        return config

    return write
