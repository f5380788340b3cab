"""`loom export`: a session, a subtree or a path, in several formats."""

from __future__ import annotations

import argparse

from .common import add_json, add_raw

FORMATS = ["loom-json", "socketteer", "markdown", "text", "html", "ansi", "jsonl", "csv"]  # loom.io.EXPORT_FORMATS

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "export"
HELP = "export a subtree, a path or token tables"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Export part of a session. Formats:\n"
        "  loom-json   the session or the subtree under --node, losslessly (loom import reads it back)\n"
        "  socketteer  the subtree under --node in the original loom's JSON\n"
        "  markdown    the text from the root to --node (default: the current node); --probs adds a table\n"
        "  text        the same as plain text\n"
        "  html        the same path as a self-contained web page: each token coloured by its probability\n"
        "              (the app's palette), its probability and alternatives on hover; human text plain\n"
        "  ansi        the same path coloured for a terminal (24-bit colour); try `| less -R`\n"
        "  jsonl, csv  one row per token of the subtree under --node, with alternatives, for notebooks\n"
        "Example: loom export tale --format markdown --probs -o tale.md\n"
        "Markdown, text and CSV are for reading: control characters, escape sequences and bidi overrides\n"
        "are shown as visible stand-ins, and CSV cells a spreadsheet would run as formulas (= + - @) get a\n"
        "leading apostrophe; --raw writes the exact text. The JSON formats are always exact.\n"
        "HTML and ANSI are always safe: every text is escaped or shown as visible stand-ins, so the only\n"
        "markup and the only escape sequences in them are loom's own (--theme picks the colours).\n"
        "Example: loom export tale --format csv --node 4 -o tokens.csv\n"
        "Example: loom export tale --format html --node 9 -o path.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--format", "-f", choices=FORMATS, default="loom-json", help="(default: loom-json)")
    p.add_argument(
        "--node",
        type=int,
        help="subtree root, or path end for markdown, text, html and ansi (default: the current node)",
    )
    p.add_argument(
        "--theme", help="html, ansi: the colours (a theme name; default: the config's theme, else loom-dark)"
    )
    p.add_argument("--probs", action="store_true", help="markdown/text: add a table of token probabilities")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    p.add_argument("--quiet", action="store_true", help="no progress bar on standard error")
    add_json(p)
    add_raw(p, "markdown, text or CSV")
    p.set_defaults(func=run)


def run(args) -> int:
    import io
    import os
    import sys
    from pathlib import Path

    from ..cli import CliError, emit
    from ..io import TreeFormatError, export_to, terminal_progress
    from .common import open_session

    theme = None
    if args.format in ("html", "ansi"):
        from ..config import load_config
        from ..themes import ThemeError, pick_theme

        if args.raw:
            raise CliError(
                f"--raw does not apply to {args.format}: its text is always escaped (text and markdown take --raw)"
            )
        try:  # --theme, else the config's (one that is gone falls back to loom's default, as in the app)
            theme = pick_theme(args.theme, load_config().theme)
        except ThemeError as exc:
            raise CliError(str(exc)) from None
    elif args.theme:
        raise CliError(f"--theme applies to html and ansi, not {args.format}")
    what = "tokens" if args.format in ("jsonl", "csv") else "nodes"
    out = Path(args.output).expanduser() if args.output else None
    with open_session(args, readonly=True) as session:
        if args.node is not None:
            session.node(args.node)
        if session.count() == 0:
            raise CliError(f"{session.path}: has no nodes to export")
        # written as it is made (memory stays flat), into FILE.part, renamed when whole
        part = out.with_name(out.name + ".part") if out else None
        try:
            if part:
                fh = part.open("w", encoding="utf-8", errors="surrogatepass", newline="")
            elif args.raw and hasattr(sys.stdout, "buffer"):  # exact bytes, lone surrogates too
                sys.stdout.flush()
                fh = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="surrogatepass", newline="")
            else:
                fh = sys.stdout
        except OSError as exc:
            raise CliError(f"{out}: cannot be written ({exc.strerror})") from None
        try:
            with terminal_progress(f"exporting {session.name}", not args.quiet and out is not None) as progress:
                count = export_to(
                    session, args.format, fh, args.node, probs=args.probs, raw=args.raw, progress=progress, theme=theme
                )
            fh.flush()
        except BaseException as exc:  # a fault or ctrl+c: no half-written FILE.part stays behind
            if part:
                fh.close()
                part.unlink(missing_ok=True)
            if isinstance(exc, TreeFormatError):
                raise CliError(str(exc)) from None
            if isinstance(exc, OSError):
                raise CliError(f"{out}: cannot be written ({exc.strerror})") from None
            raise
        finally:
            if isinstance(fh, io.TextIOWrapper) and fh is not sys.stdout and not part:
                fh.detach()  # leave standard output open
    if part:
        fh.close()
        os.replace(part, out)
        emit(
            args,
            {"output": str(out), "format": args.format, what: count},
            f"wrote {count} {what} as {args.format} to {out}",
        )
    return 0
