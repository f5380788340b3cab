"""A path for a terminal: each model token's background coloured by its
probability with the theme's palette, in 24-bit ANSI colour; text a person
wrote in the terminal's own colours. The only escape sequences in the output
are loom's colour codes: every text goes through loom.textsafe.visible first,
so a node's own escapes, controls and bidi overrides show as stand-ins."""

from __future__ import annotations

from collections.abc import Sequence

from ..textsafe import visible
from ..themes import LoomTheme, rgb
from ..tree import Node

RESET = "\x1b[0m"


def _rgb(colour: str) -> str:
    return ";".join(map(str, rgb(colour)))


def colour(text: str, bg: str, fg: str) -> str:
    """`text` (already safe) on background `bg` in `fg`; each line coloured on
    its own, so a background never runs on past a line's end."""
    on = f"\x1b[48;2;{_rgb(bg)}m\x1b[38;2;{_rgb(fg)}m"
    return "\n".join(f"{on}{part}{RESET}" if part else "" for part in text.split("\n"))


def legend(theme: LoomTheme) -> str:
    return "token probability: " + " ".join(
        colour(f" {theme.bucket_label(i)} ", c, theme.foreground(i)) for i, c in enumerate(theme.palette)
    )


def path_ansi(nodes: Sequence[Node], theme: LoomTheme, *, heading: str = "", with_legend: bool = True) -> str:
    """The path as text with ANSI colours, ending in a newline; `heading` (plain text) above it."""
    out = []
    for node in nodes:
        if not node.tokens:
            out.append(visible(node.text, expand_tabs=False))
            continue
        for tok in node.tokens:
            text = visible(tok.text, expand_tabs=False)
            if tok.prob is None:
                out.append(text)
            else:
                b = theme.bucket(tok.prob)
                out.append(colour(text, theme.palette[b], theme.foreground(b)))
    body = "".join(out).rstrip("\n")
    parts = ([f"-- {visible(heading, expand_tabs=False)} --"] if heading else []) + [body]
    if with_legend:
        parts += ["", legend(theme)]
    return "\n".join(parts) + "\n"
