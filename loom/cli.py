"""Command line: `loom [SESSION]` opens the app; subcommands run headless.

Each subcommand lives in loom/commands/<name>.py with `add_parser(subparsers)`;
heavy imports (torch, textual) happen inside the commands, so `loom --help`
stays fast."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

# Each command's name and the module that holds it (loom/commands/<module>.py),
# in the order of `loom --help`. A command's module is imported only when that
# command runs (or `loom --help` lists them all): `loom SESSION` imports `open`
# alone, not every command's defaults (tests/cli/test_lazy_commands.py checks the
# names against what each module registers).
COMMANDS = {
    "open": "open",
    "sessions": "sessions",
    "new": "new",
    "generate": "generate",
    "edit": "edit",
    "fork": "fork",
    "show": "show",
    "replay": "replay",
    "compare": "compare",
    "sweep": "sweep",
    "report": "report",
    "forks": "forks",
    "global": "global_attractors",
    "multiverse": "multiverse",
    "dist": "distribution",
    "score": "candidates",
    "vs": "vs",
    "collapse": "collapse",
    "import": "importcmd",
    "export": "export",
    "search": "search",
    "tag": "tag",
    "models": "models",
    "config": "config",
}
COMMAND_MODULES = list(COMMANDS.values())


class CliError(Exception):
    """A user error in the command line itself: printed as `loom: error: ...`,
    exit status 2, like every LoomError an experiment raises."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser, with every command; `only`: with that command's
    parser alone (the others still count as commands, for `loom NAME`)."""
    parser = argparse.ArgumentParser(
        prog="loom",
        description="Explore the multiverse of a language model's continuations.\n\n"
        "  loom                      open the app on a new session with the bundled demo model\n"
        "  loom NAME|PATH            open (or create) a session\n"
        "  loom COMMAND --help       help and an example for each command below",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sessions-dir", metavar="DIR", help="where sessions live (env LOOM_SESSIONS_DIR)")
    parser.add_argument(
        "--device",
        metavar="DEVICE",
        help="where local models run: auto (cuda, else mps, else cpu; the default), cpu, cuda, cuda:N or mps "
        "(env LOOM_DEVICE, config `device`); recorded with every node",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"loom.commands.{module}").add_parser(sub)
    # A command's name can differ from its module's (`dist` lives in distribution.py).
    parser.set_defaults(_commands=frozenset(COMMANDS))
    return parser


def sessions_dir(args: argparse.Namespace):
    from .experiments.settings import sessions_dir as folder

    return folder(getattr(args, "sessions_dir", None))


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print `data` as JSON with --json, else the human text. Text is made safe
    for a terminal (loom.textsafe.visible) unless the command has --raw; JSON
    writes such characters as escapes, so it is both exact and inert."""
    from .textsafe import inert_json, visible

    if getattr(args, "csv", None) == "-":  # the CSV on standard output was the output
        return
    if getattr(args, "json", False):
        print(inert_json(json.dumps(data, indent=2, ensure_ascii=False)))
    elif getattr(args, "raw", False):
        write_raw(text + "\n")
    else:
        print(visible(text, expand_tabs=False))


def write_raw(text: str) -> None:
    """Exactly these characters to standard output, lone surrogates as the bytes they stand for."""
    sys.stdout.flush()
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (a test's capture): no bytes to give
        sys.stdout.write(text)
    else:
        out.write(text.encode("utf-8", "surrogatepass"))
        out.flush()


def note(text: str) -> None:
    """`loom: note: ...` on standard error, safe for the terminal, URL credentials hidden."""
    from .textsafe import redact, visible

    print(f"loom: note: {visible(redact(text), expand_tabs=False)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Texts may hold lone surrogates (kept exactly in sessions): print them escaped, never crash.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    known = frozenset(COMMANDS)
    # `loom NAME` is short for `loom open NAME`.
    first = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    opts_with_value = {"--sessions-dir", "--device"}
    if first is not None and first > 0 and argv[first - 1] in opts_with_value:
        first = next((i for i, a in enumerate(argv[first + 1 :], first + 1) if not a.startswith("-")), None)
    if first is None:
        if not any(a in ("-h", "--help") for a in argv):
            argv.append("open")
            first = len(argv) - 1
    elif argv[first] not in known:
        argv.insert(first, "open")
    # the command's parser alone; the top level's help (`loom --help`, `loom -h NAME`) lists them all
    top_help = any(a in ("-h", "--help") for a in argv[: len(argv) if first is None else first])
    parser = build_parser(None if top_help or first is None else argv[first])
    args = parser.parse_args(argv)
    from .tree import LoomError

    try:
        if getattr(args, "device", None):
            from .config import check_device

            # the backends (and a model loaded in another process) read it from there
            os.environ["LOOM_DEVICE"] = check_device(args.device)
        return args.func(args) or 0
    except (CliError, LoomError, KeyError) as exc:
        from .textsafe import redact, visible

        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"loom: error: {visible(redact(str(msg)), expand_tabs=False)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loom: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`loom ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
