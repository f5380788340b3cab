"""`loom global`: which attractors recur across many prompts (global attractors)."""

from __future__ import annotations

from .analysis_args import add_attractor_args
from .common import add_generation_args, add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "global"
HELP = "global attractors: which endings recur across many prompts"


def add_parser(sub) -> None:
    from ..experiments.global_attractors import DEFAULTS, RECURRING

    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Sample N continuations of each of many prompts, group the endings of all samples pooled into\n"
        "meaning clusters, and report the clusters that recur across prompts and each attractor given: its rate\n"
        "after each prompt and pooled (95% Wilson intervals) and the number of prompts it occurs in. The prompts\n"
        "are a file (one per line; each becomes a root of the session, or reuses a root with the same text, so\n"
        "every sample is traceable) or every root of the session (--roots).\n"
        "Example: loom global tale --prompts prompts.txt -n 16 --max-tokens 40 --attractor-words 'wedding=wedding,feast' --csv global.csv",
    )
    p.add_argument("session", help="session name or path")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompts", metavar="FILE", help="a text file with one prompt per line")
    src.add_argument("--roots", action="store_true", help="every root of the session is a prompt")
    p.add_argument(
        "--keep",
        choices=("nodes", "record"),
        default="record",
        help="keep samples as branches of their roots, or only in the record (default)",
    )
    p.add_argument(
        "--recurring",
        type=int,
        default=RECURRING,
        metavar="K",
        help=f"a cluster recurs when it occurs after at least K prompts (default {RECURRING})",
    )
    p.add_argument("--model", help="model (default: the session's, else demo)")
    p.add_argument("--no-save", action="store_true", help="do not store the result as a record")
    p.add_argument(
        "--csv", metavar="FILE", help="also write one row per sample (prompt, cluster, attractors as 0/1, text)"
    )
    add_plot(p, "each attractor or cluster per prompt, with intervals")
    m = p.add_argument_group("attractors", "user-defined attractors counted beside the meaning clusters")
    add_attractor_args(m)
    add_generation_args(p, n_help=f"samples per prompt (default {DEFAULTS['n']})")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..cli import CliError
    from ..cli import note as cli_note
    from ..experiments.global_attractors import (
        DEFAULTS,
        GlobalError,
        format_global,
        global_attractors,
        prompt_roots,
        read_prompts,
    )
    from ..experiments.replay import ReplayError
    from .analysis_args import attractors_from
    from .common import check_plot, finish, open_model, open_session, resolved_params
    from .progress import progress_line

    check_plot(args)  # before any sample is drawn
    prompts = None
    if args.prompts:
        try:
            prompts = read_prompts(Path(args.prompts).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read prompts from {args.prompts}: {getattr(exc, 'strerror', None) or exc}") from exc
        if not prompts:
            raise CliError(f"{args.prompts}: no prompts (one per line)")
    with open_session(args, create=prompts is not None) as session:
        if prompts is None:
            roots = [n.id for n in session.roots()]
            if not roots:
                raise CliError(f"{session.path}: has no roots; give --prompts FILE")
        attractors = attractors_from(args, session)
        params = resolved_params(session, args, experiment=DEFAULTS)  # bad settings fail before anything is made
        backend = open_model(session, args)
        try:
            if prompts is not None:
                made = prompt_roots(session, prompts)
                roots = [r for r, _ in made]
                if not any(new for _, new in made):
                    cli_note("every prompt was already a root of the session: its samples go there")
            with progress_line() as progress:
                result = global_attractors(
                    session,
                    backend,
                    roots,
                    params,
                    attractors=attractors,
                    keep=args.keep,
                    cluster_similarity=args.cluster_similarity,
                    cluster_words=args.cluster_words,
                    recurring=args.recurring,
                    save=not args.no_save,
                    progress=progress,
                )
        except (GlobalError, ReplayError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        finish(args, result, format_global(result))
    return 0
