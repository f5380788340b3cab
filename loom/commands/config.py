"""`loom config`: where the config file is and what is in effect."""

from __future__ import annotations

import argparse

from .common import add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "config"
HELP = "show the config file's place and the settings in effect"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Show where the config file is (env LOOM_CONFIG overrides the place) and the settings in\n"
        "effect: default model, generation defaults, sessions folder, theme, key overrides, model profiles.\n"
        "Example: loom config --init   (writes a commented starter file if there is none)",
    )
    p.add_argument("--init", action="store_true", help="write a commented starter config file if none exists")
    p.add_argument(
        "--session",
        default=None,
        help="also show the model and settings a command on this session "
        "would use, and where each value comes from (flag, session, profile, config, default)",
    )
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit, sessions_dir
    from ..config import STARTER, config_path, load_config

    if args.init:
        path = config_path()
        if path.exists():
            print(f"{path}: exists already; left as it is")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(STARTER, encoding="utf-8")
            print(f"{path}: written; edit it, then run `loom config`")
        return 0
    config = load_config()
    data = config.to_dict()
    data["sessions_dir"] = str(sessions_dir(args))
    lines = [
        f"config file: {config.path}"
        + ("" if config.exists else " (not there: defaults in effect; `loom config --init` writes one)"),
        f"model:        {config.model}",
        f"theme:        {config.theme or '(default)'}",
        f"sessions_dir: {data['sessions_dir']}",
        "generation:   " + " ".join(f"{k}={v!r}" for k, v in data["generation"].items()),
    ]
    if config.keys:
        lines.append("keys:         " + ", ".join(f"{a}={k}" for a, k in config.keys.items()))
    for name, p in data["profiles"].items():
        key = f"${p['api_key_env']} " + ("set" if p["api_key_set"] else "not set")
        lines.append(
            f"profile {name}: {p['api']} {p['model']} at {p['base_url']}, key {key}"
            + (f", params {p['params']}" if p["params"] else "")
            + (f", extra {p['extra']}" if p["extra"] else "")
        )
    if args.session:
        from ..experiments.settings import resolve
        from .common import open_session

        with open_session(args) as session:
            resolved = resolve(session, config=config)
        data["resolved"] = resolved.to_dict()
        params = resolved.params.to_dict()
        lines.append(f"session {args.session}: model {resolved.model} ({resolved.sources['model']})")
        lines += [
            f"  {name:<16} {params[name]!r:<12} from {where}"
            for name, where in resolved.sources.items()
            if name != "model"
        ]
    emit(args, data, "\n".join(lines))
    return 0
