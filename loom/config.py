"""The user's config file: one TOML file in the user's config folder
(platformdirs), or wherever env LOOM_CONFIG points.

It holds the default model, model profiles for OpenAI-compatible servers,
generation defaults, the sessions folder, the theme and key binding overrides.
Reading it is cheap (tomllib + platformdirs), so the CLI may load it early.
A broken file raises ConfigError naming the file, the line and the problem.

    model = "local"                  # default model: a profile, a bundled model, a folder
    theme = "loom-dark"
    sessions_dir = "~/loom-sessions"

    [generation]                     # defaults for every model
    n = 4
    max_tokens = 48

    [keys]                           # key binding overrides: action = "key"
    generate = "ctrl+g"

    [profiles.local]
    base_url = "http://127.0.0.1:8080/v1"
    model = "qwen2.5-7b"
    api = "completions"              # or "chat"
    [profiles.local.params]          # generation defaults for this profile
    temperature = 0.8
    [profiles.local.extra]           # sent unchanged in every request body
    repetition_penalty = 1.1
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .tree import GenerationParams, LoomError, ParamError

ENV_CONFIG = "LOOM_CONFIG"
DEFAULT_MODEL = "demo"
APIS = ("completions", "chat")
CHAT_PROMPTS = ("assistant", "user")

TOP_KEYS = {"model", "theme", "sessions_dir", "generation", "keys", "profiles"}
# generation defaults may set any GenerationParams field except the model itself
GENERATION_KEYS = {f.name for f in fields(GenerationParams)} - {"model"}


class ConfigError(LoomError, ValueError):
    """The config file is broken; the message names the file, the line and the problem."""


@dataclass
class Profile:
    """An OpenAI-compatible server and model, reached through the `openai` package."""

    name: str
    model: str
    base_url: str | None = None  # None: env OPENAI_BASE_URL, else OpenAI's own API
    api: str = "completions"  # "completions" (/v1/completions) or "chat" (/v1/chat/completions)
    api_key_env: str = "OPENAI_API_KEY"  # the variable is read at every request, never stored
    params: dict[str, Any] = field(default_factory=dict)  # generation defaults for this profile
    extra: dict[str, Any] = field(default_factory=dict)  # request fields passed through unchanged
    concurrency: int = 4  # parallel requests when the server gives fewer choices than n
    timeout: float = 120.0  # seconds to wait for the server (per request)
    max_retries: int = 3  # for 429 (honouring Retry-After), 5xx and dropped connections
    raw_logprobs: bool = True  # False if the server reports probabilities after its sampler
    max_logprobs: int | None = None  # top alternatives the server allows (None: 5 for api.openai.com legacy, else 20)
    n_per_request: bool | None = None  # True: the server honours n; False: one request per branch; None: find out
    stream: bool = True  # False for servers whose streams lack logprobs
    # completions API: send a context as the token ids the server's model wrote (its replies must say
    # which ids, as llama.cpp's do), human text tokenised by the server's /tokenize. None: where it can;
    # False: always text; True: ids or a clear error
    token_prompts: bool | None = None
    chat_prompt: str = "assistant"  # chat: send the text as an assistant turn to continue, or as a user turn
    system: str | None = None  # chat: an optional system message

    def resolved_base_url(self) -> str:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def public(self) -> dict[str, Any]:
        """What `loom config` / `loom models` show: everything but secrets (the profile holds none;
        only whether the key variable is set is added)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        from .textsafe import redact

        d["base_url"] = redact(self.resolved_base_url())
        d["api_key_set"] = bool(os.environ.get(self.api_key_env))
        return d


@dataclass
class Config:
    path: Path
    exists: bool = False
    model: str = DEFAULT_MODEL
    theme: str | None = None
    sessions_dir: Path | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)

    def generation_params(self, model_ref: str | None = None) -> GenerationParams:
        """Defaults: loom's, then [generation], then the profile's own params."""
        values = dict(self.generation)
        profile = self.profiles.get(model_ref or "")
        if profile:
            values.update(profile.params)
        return GenerationParams().replace(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "exists": self.exists,
            "model": self.model,
            "theme": self.theme,
            "sessions_dir": str(self.sessions_dir) if self.sessions_dir else None,
            "generation": self.generation_params().to_dict(),
            "keys": dict(self.keys),
            "profiles": {name: p.public() for name, p in self.profiles.items()},
        }


def config_path() -> Path:
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path("loom") / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """The config in effect. A missing file at the default place is an empty
    config; a missing file named by LOOM_CONFIG (or `path`) is an error."""
    explicit = path is not None or bool(os.environ.get(ENV_CONFIG))
    path = path or config_path()
    try:
        exists = path.exists()
    except OSError as exc:  # e.g. a home folder this user cannot enter
        raise ConfigError(f"{path}: cannot be read ({exc})") from exc
    if not exists:
        if explicit:
            raise ConfigError(
                f"{path}: config file not found" + (f" (named by ${ENV_CONFIG})" if os.environ.get(ENV_CONFIG) else "")
            )
        return Config(path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)"
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return _parse(data, path, text)


#: the error for a setting: (table, key or None for the table itself, message) -> ConfigError naming the line
Fail = Callable[[tuple[str, ...], str | None, str], ConfigError]
#: the same with the table and key already chosen
FailHere = Callable[[str], ConfigError]


def _parse(data: dict[str, Any], path: Path, text: str) -> Config:
    def fail(table: tuple[str, ...], key: str | None, msg: str) -> ConfigError:
        line = _line_of(text, table, key)
        where = f"line {line}: " if line else ""
        name = ".".join((*table, key) if key else table)
        return ConfigError(f"{path}: {where}{name}: {msg}")

    cfg = Config(path=path, exists=True)
    for key in data:
        if key not in TOP_KEYS:
            raise fail((), key, f"unknown setting (known: {', '.join(sorted(TOP_KEYS))})")
    if "model" in data:
        cfg.model = _text(data["model"], lambda m: fail((), "model", m))
    if "theme" in data:
        cfg.theme = _text(data["theme"], lambda m: fail((), "theme", m))
    if "sessions_dir" in data:
        cfg.sessions_dir = Path(_text(data["sessions_dir"], lambda m: fail((), "sessions_dir", m))).expanduser()

    gen = _table(data, "generation", lambda m: fail((), "generation", m))
    cfg.generation = _generation(gen, ("generation",), fail)

    def key_fail(action: str) -> FailHere:
        return lambda m: fail(("keys",), action, m + ' (a key such as "ctrl+g", or several as "g,ctrl+g")')

    keys = _table(data, "keys", lambda m: fail((), "keys", m))
    for action, key in keys.items():
        cfg.keys[action] = _text(key, key_fail(action))

    profiles = _table(data, "profiles", lambda m: fail((), "profiles", m))
    for name, body in profiles.items():
        cfg.profiles[name] = _profile(name, body, fail)
    return cfg


def _profile(name: str, body: Any, fail: Fail) -> Profile:
    table = ("profiles", name)
    if not isinstance(body, dict):
        raise fail(table, None, "must be a table ([profiles.NAME] with base_url and model)")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):  # no ':', so it never reads as openai:MODEL
        raise fail(table, None, "a profile name uses only letters, digits, '.', '_' and '-'")
    from .backends.local import BUNDLED

    if name in BUNDLED:
        raise fail(table, None, f"{name!r} is a bundled model; give the profile another name")
    known = {f.name for f in fields(Profile)} - {"name"}
    for key in body:
        if key not in known:
            raise fail(table, key, f"unknown profile setting (known: {', '.join(sorted(known))})")
    if "model" not in body:
        raise fail(table, None, "needs `model`, the model name the server knows")

    def want(key: str, kinds: tuple[type, ...], what: str, check: Callable[[Any], object] = lambda v: True) -> None:
        if key in body:
            v = body[key]
            if not isinstance(v, kinds) or isinstance(v, bool) and bool not in kinds or not check(v):
                raise fail(table, key, f"must be {what} (got {v!r})")

    want("model", (str,), "a non-empty text", bool)
    want("base_url", (str,), "an http:// or https:// address", lambda v: v.startswith(("http://", "https://")))
    want("api", (str,), f"one of {', '.join(APIS)}", lambda v: v in APIS)
    want(
        "api_key_env",
        (str,),
        "the name of an environment variable",
        lambda v: re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v),
    )
    want("concurrency", (int,), "a whole number from 1 to 64", lambda v: 1 <= v <= 64)
    want("timeout", (int, float), "seconds above 0", lambda v: v > 0)
    want("max_retries", (int,), "a whole number from 0 to 10", lambda v: 0 <= v <= 10)
    want("raw_logprobs", (bool,), "true or false")
    want("max_logprobs", (int,), "a whole number from 0 to 100", lambda v: 0 <= v <= 100)
    want("n_per_request", (bool,), "true or false")
    want("stream", (bool,), "true or false")
    want("token_prompts", (bool,), "true or false")
    want("chat_prompt", (str,), f"one of {', '.join(CHAT_PROMPTS)}", lambda v: v in CHAT_PROMPTS)
    want("system", (str,), "a text")
    want("extra", (dict,), "a table of request fields")
    want("params", (dict,), "a table of generation parameters")
    params = _generation(body.get("params", {}), (*table, "params"), fail)
    values = {k: v for k, v in body.items() if k not in ("params",)}
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])
    return Profile(name=name, **{**values, "params": params})


def _generation(values: dict[str, Any], table: tuple[str, ...], fail: Fail) -> dict[str, Any]:
    for key in values:
        if key not in GENERATION_KEYS:
            raise fail(table, key, f"unknown generation parameter (known: {', '.join(sorted(GENERATION_KEYS))})")
    for key, value in values.items():
        try:
            GenerationParams().replace(**{key: value}).validate()
        except (ParamError, TypeError) as exc:
            raise fail(table, key, str(exc)) from exc
    return dict(values)


def _table(data: dict[str, Any], key: str, fail: FailHere) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise fail(f"must be a table ([{key}])")
    return value


def _text(value: Any, fail: FailHere) -> str:
    if not isinstance(value, str) or not value:
        raise fail(f"must be a non-empty text (got {value!r})")
    return value


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _line_of(text: str, table: tuple[str, ...], key: str | None) -> int | None:
    """The line where `key` is set inside `table` (or the table's header line).

    tomllib gives positions only for syntax errors, so this finds the line of a
    semantic error by scanning headers and `key =` lines; dotted keys and inline
    tables are matched by their first part, which is enough to point the user."""
    current: tuple[str, ...] = ()
    header_line = None
    for no, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            if current == table and header_line is None:
                header_line = no
            continue
        if key is None:
            continue
        stripped = line.strip()
        if current == table and re.match(rf"""["']?{re.escape(key)}["']?\s*=""", stripped):
            return no
        # `[profiles]` then `local = {...}` or `profiles.local.model = ...` from the top
        if table and current == table[:-1] and re.match(rf"""["']?{re.escape(table[-1])}["']?\s*[.=]""", stripped):
            return no
    if header_line is None and table:
        return _line_of(text, table[:-1], table[-1]) if len(table) > 1 else None
    return header_line


def default_model() -> str:
    """The model to use when none is named: the config's `model`, else the bundled demo."""
    return load_config().model


STARTER = """# loom config (TOML). `loom config` shows what is in effect.
# model = "local"                 # default model: a profile below, "demo", or a model folder
# theme = "loom-dark"
# sessions_dir = "~/loom-sessions"

[generation]
# n = 4
# max_tokens = 48
# temperature = 1.0
# cap = 1.0                      # remove tokens the model gives more than this (1 = off; local models only)

[keys]
# generate = "ctrl+g"

# An OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI, Together, OpenRouter...):
# [profiles.local]
# base_url = "http://127.0.0.1:8080/v1"
# model = "my-model"
# api = "completions"             # or "chat"
# api_key_env = "OPENAI_API_KEY"  # the variable holding the key; the key itself never goes here
"""
