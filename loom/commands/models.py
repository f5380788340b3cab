"""`loom models`: the model profiles in the config file, and a check of one."""

from __future__ import annotations

import argparse

from .common import add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "models"
HELP = "list model profiles; check that a server answers"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List the model profiles in the config file (OpenAI-compatible servers), or check one:\n"
        "reach the server, confirm it serves the model, and see whether it returns logprobs.\n"
        "A model is named by a profile, by openai:MODEL@URL / openai-chat:MODEL@URL, or is a local model (demo).\n"
        "Example: loom models --check local",
    )
    p.add_argument("--check", metavar="NAME", help="profile name (or openai:MODEL@URL) to check")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit
    from ..config import load_config

    config = load_config()
    if not args.check:
        rows = [
            {"name": name, **{k: v for k, v in p.public().items() if k != "name"}}
            for name, p in config.profiles.items()
        ]
        lines = [f"{config.path}: " + (f"{len(rows)} profile(s)" if rows else "no profiles (see `loom config --init`)")]
        for r in rows:
            key = f"${r['api_key_env']} " + ("set" if r["api_key_set"] else "not set")
            default = "  (default)" if r["name"] == config.model else ""
            lines.append(f"  {r['name']:<16} {r['api']:<11} {r['model']}  at {r['base_url']}  key {key}{default}")
        lines.append(
            "  demo             local       the bundled demo model" + ("  (default)" if config.model == "demo" else "")
        )
        emit(args, {"config": str(config.path), "default": config.model, "profiles": rows}, "\n".join(lines))
        return 0

    from ..experiments.models import check_server

    backend, report = check_server(args.check, config)
    ok = report["reachable"] and report["generates"]
    report["ok"] = ok
    yes = {True: "yes", False: "no", None: "unknown"}
    lines = [
        f"{report['profile'] or backend.name}: {report['model']} ({report['api']}) at {report['base_url']}"
        + (f" and {len(report['servers']) - 1} more" if report.get("servers") else ""),
        f"  reachable:  {yes[report['reachable']]}",
    ]
    for srv in report.get("servers") or []:  # a profile with several base URLs
        listed = {True: "model listed", False: "model NOT listed", None: "no model list"}[srv["model_listed"]]
        lines.append(f"  server:     {srv['base_url']}: " + (listed if srv["reachable"] else "NOT reachable"))
    if report["note"]:
        lines.append(f"  note:       {report['note']}")
    if report["models"] is not None:
        listed = (
            "yes"
            if report["model_listed"]
            else "not listed (it serves: " + (", ".join(report["models"][:12]) or "nothing") + ")"
        )
        lines.append(f"  model:      {listed}")
    lines.append(f"  generates:  {yes[report['generates']]}")
    if report["generates"]:
        lines.append(
            "  logprobs:   "
            + (
                f"yes, {report.get('top_logprobs', 0)} alternatives per token"
                if report["logprobs"]
                else "no: tokens will be shown without probabilities"
            )
        )
    if report["error"]:
        lines.append(f"  error:      {report['error']}")
    emit(args, report, "\n".join(lines))
    return 0 if ok else 1
