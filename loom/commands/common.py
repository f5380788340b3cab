"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse

from ..tree import GenerationParams


def add_generation_args(p: argparse.ArgumentParser, n_help: str | None = None) -> None:
    g = p.add_argument_group(
        "generation (default: the session's settings, then the model's profile, then the config, then loom's)"
    )
    d = GenerationParams()
    g.add_argument("-n", type=int, help=n_help or f"branches to generate (loom's default {d.n})")
    g.add_argument("--max-tokens", type=int, help=f"tokens per branch (default {d.max_tokens})")
    g.add_argument("--temperature", type=float, help=f"(default {d.temperature})")
    g.add_argument("--top-p", type=float, help="nucleus sampling mass, 1 = off")
    g.add_argument("--top-k", type=int, help="keep the k most likely tokens, 0 = off")
    g.add_argument("--min-p", type=float, help="drop tokens below min-p times the top probability")
    g.add_argument("--xtc-threshold", type=float, help="XTC: tokens above this probability are candidates for removal")
    g.add_argument("--xtc-probability", type=float, help="XTC: chance per token that the removal happens")
    g.add_argument(
        "--cap",
        type=float,
        metavar="P",
        help="remove every token the model gives more than P (0 < P <= 1, 1 = off) and renormalise the "
        "rest; local models only",
    )
    g.add_argument("--stop", action="append", help="stop string (repeatable)")
    g.add_argument("--seed", type=int, help="random seed (branch i uses seed + i)")
    g.add_argument("--logprobs", type=int, help="alternatives recorded per token (default 10)")


GENERATION_FLAGS = (
    "n",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "xtc_threshold",
    "xtc_probability",
    "cap",
    "stop",
    "seed",
    "logprobs",
)


def resolved_params(session, args, ref: str | None = None, experiment: dict | None = None) -> GenerationParams:
    """The run's parameters from the one resolver: this command's flags, then the
    session's settings, then the model's profile, then the config, then defaults."""
    from ..experiments.settings import resolve

    flags = {name: getattr(args, name, None) for name in GENERATION_FLAGS}
    return resolve(session, model=ref or getattr(args, "model", None), flags=flags, experiment=experiment).params


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_csv(p: argparse.ArgumentParser, rows: str) -> None:
    p.add_argument(
        "--csv",
        metavar="FILE",
        help=f"also write the result as CSV ({rows}); - writes it to standard output instead of the text",
    )


def add_csv_output(args: argparse.Namespace, result) -> None:
    """Write the result's rows as CSV where --csv asks (the same table as result.to_csv() in Python)."""
    from ..cli import CliError, write_raw

    path = getattr(args, "csv", None)
    if not path:
        return
    if path == "-":
        write_raw(result.to_csv())
        return
    try:
        result.to_csv(path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc


def add_plot(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--plot",
        metavar="FILE",
        help=f"also draw the figure ({what}) as FILE.png or FILE.svg (by the suffix; needs matplotlib, the plot extra)",
    )


def check_plot(args: argparse.Namespace) -> None:
    """Refuse a --plot file that cannot be drawn (a suffix other than .png or .svg,
    no matplotlib) before anything runs: nothing is stored for a figure that cannot be made."""
    from ..cli import CliError
    from ..render.plotting import check_figure
    from ..render.svg import RenderError

    if getattr(args, "plot", None):
        try:
            check_figure(args.plot)
        except RenderError as exc:
            raise CliError(str(exc)) from exc


def add_plot_output(args: argparse.Namespace, draw) -> str:
    """Draw the figure where --plot asks: `draw(path)` (a result's plot, or plot_scores);
    returns the line that says where it went ("" when none was asked for)."""
    from ..cli import CliError
    from ..render.svg import RenderError

    path = getattr(args, "plot", None)
    if not path:
        return ""
    try:
        draw(path)
    except RenderError as exc:
        raise CliError(str(exc)) from exc
    return f"\nfigure written to {path}"


def add_raw(p: argparse.ArgumentParser, what: str = "text") -> None:
    p.add_argument(
        "--raw",
        action="store_true",
        help=f"write the {what} exactly as stored; by default control characters, escape sequences and "
        "bidi overrides are shown as visible stand-ins (␛, <U+202E>) so the terminal never acts on them",
    )


def open_session(args: argparse.Namespace, create: bool = False, readonly: bool = False):
    """The command's session. Read commands pass `readonly`: nothing is created or changed."""
    from ..cli import sessions_dir
    from ..store import Session, resolve_session

    folder = sessions_dir(args)
    path = resolve_session(args.session, folder)
    if create and path.parent == folder:  # a new session by name: the sessions folder is made when missing
        folder.mkdir(parents=True, exist_ok=True)
    return Session(path, create=create, readonly=readonly)


def node_dict(node, tokens: bool = False) -> dict:
    return node.to_dict(tokens)


def target_node(session, args) -> int:
    """The node a command works on: --node, else the session's current node."""
    from ..cli import CliError

    node_id = args.node if getattr(args, "node", None) is not None else session.current
    if node_id is None:
        raise CliError(f"{session.path}: has no nodes; create it with `loom new`")
    session.node(node_id)  # a KeyError names a node that does not exist
    return node_id


def model_ref(session, args) -> str:
    """--model, else the session's model, else the config's default (the one resolver's order)."""
    from ..experiments.settings import resolve

    return resolve(session, model=getattr(args, "model", None)).model


def open_model(session, args, ref: str | None = None, params: GenerationParams | None = None):
    """Open the command's model. A model named with --model becomes the
    session's model, once it has opened and accepted `params` (a bad name, or a
    setting it cannot honour, changes nothing stored)."""
    from ..experiments.models import open_for

    ref = ref or model_ref(session, args)
    # only the model that --model named (sweep may replay with the original's model instead)
    return open_for(session, ref, named=getattr(args, "model", None) == ref, params=params)


def finish(args, result, text: str) -> None:
    """What a command does with an experiment's result: its notices on standard
    error, the CSV (--csv) of its rows, its figure (--plot), then its text or --json."""
    from ..cli import emit, note

    for n in result.notices:
        note(n)
    add_csv_output(args, result)
    text += add_plot_output(args, result.plot) if hasattr(result, "plot") else ""
    emit(args, result.to_dict(), text + (f"\nstored as record {result.record}" if result.record else ""))
