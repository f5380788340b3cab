"""A path as HTML: each model token's background coloured by its probability
with the theme's palette (as in the app), its probability and its stored
alternatives on hover; text a person wrote (prompts, edits) in the page's
neutral colour.

`path_fragment` is a <div> with inline styles only, so it shows the same in a
page, a notebook (`_repr_html_`) or anywhere HTML is pasted; `path_page`
wraps it in a self-contained page (no script, no outside resource, and a
Content-Security-Policy that forbids both). Model text is data, never markup:
every text is HTML-escaped, and what a terminal or viewer could act on
(control characters, bidi overrides) is first made visible (loom.textsafe)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

from ..textsafe import visible
from ..themes import LoomTheme, hex_colour
from ..tree import Node, Token

MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"


def pct(p: float | None) -> str:
    """A probability for people: 41.2%, or 3.1e-05 when it rounds to nothing."""
    if p is None or not math.isfinite(p):
        return "–"
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


def shown(text: str) -> str:
    """A token's text in a tooltip or a list: quoted, whitespace and controls escaped (repr), then made visible."""
    return visible(repr(text), expand_tabs=False)


def token_note(node: Node, index: int, tok: Token) -> str:
    """What hovering a token shows: where it is, its probability, and its stored alternatives."""
    lines = [f"node {node.id}, token {index}: {shown(tok.text)}"]
    if tok.prob is None:
        lines.append("no probability stored")
    else:
        kind = "" if tok.raw else " (after the sampler)"
        lines.append(f"p {pct(tok.prob)}  logprob {tok.logprob:.3f}{kind}")
    if tok.alternatives:
        lines.append("alternatives:")
        for rank, alt in enumerate(tok.alternatives, 1):
            chosen = alt.text == tok.text and (alt.token_id is None or alt.token_id == tok.token_id)
            lines.append(f"{rank:>3}. {pct(alt.prob):>7}  {shown(alt.text)}{'  ← chosen' if chosen else ''}")
    return "\n".join(lines)


def _page(theme: LoomTheme) -> tuple[str, str, str]:
    """The page's background, text and heading colours, from the theme."""
    bg = theme.colors.get("background", "#000000" if theme.dark else "#ffffff")
    fg = theme.colors.get("foreground", "#ffffff" if theme.dark else "#000000")
    return hex_colour(bg), hex_colour(fg), hex_colour(theme.colors.get("primary", fg))


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _node_spans(node: Node, theme: LoomTheme, neutral: str) -> Iterable[str]:
    if not node.tokens:
        who = {"prompt": "prompt", "edit": "edit", "human": "written by a person"}.get(node.author, node.author)
        note = f"node {node.id}: {who}" + (f" (edit of node {node.derived_from})" if node.derived_from else "")
        yield (
            f'<span class="loom-human" data-node="{node.id}" title="{_attr(note)}" style="color:{neutral}">'
            f"{escape(visible(node.text, expand_tabs=False))}</span>"
        )
        return
    for i, tok in enumerate(node.tokens):
        text = escape(visible(tok.text, expand_tabs=False))
        title = _attr(token_note(node, i, tok))
        if tok.prob is None:
            yield f'<span class="loom-tok" data-node="{node.id}" data-i="{i}" title="{title}">{text}</span>'
            continue
        b = theme.bucket(tok.prob)
        yield (
            f'<span class="loom-tok" data-node="{node.id}" data-i="{i}" data-p="{tok.prob:.6g}" title="{title}" '
            f'style="background:{hex_colour(theme.palette[b])};color:{hex_colour(theme.foreground(b))}">{text}</span>'
        )


def legend(theme: LoomTheme) -> str:
    """The palette's buckets, each in its colours, as one line of HTML."""
    chips = "".join(
        f'<span style="background:{hex_colour(c)};color:{hex_colour(theme.foreground(i))};padding:0 .4em">'
        f"{escape(theme.bucket_label(i))}</span>"
        for i, c in enumerate(theme.palette)
    )
    fg = _page(theme)[1]
    return (
        f'<div class="loom-legend" style="font-family:{MONO};font-size:85%;margin-top:.6em;color:{fg}">'
        f"token probability: {chips}</div>"
    )


def path_fragment(nodes: Sequence[Node], theme: LoomTheme, *, with_legend: bool = True) -> str:
    """The path as one <div> with inline styles (and the palette's legend below it)."""
    bg, fg, _ = _page(theme)
    body = "".join(span for node in nodes for span in _node_spans(node, theme, fg))
    box = (
        f'<div class="loom-path" style="font-family:{MONO};white-space:pre-wrap;overflow-wrap:anywhere;'
        f'line-height:1.6;background:{bg};color:{fg};padding:.8em 1em;border-radius:4px">{body}</div>'
    )
    if not with_legend:
        return box
    return f'<div class="loom" style="background:{bg};padding:.4em">{box}{legend(theme)}</div>'


def path_page(nodes: Sequence[Node], theme: LoomTheme, *, title: str, subtitle: str = "") -> str:
    """A self-contained HTML page of the path."""
    bg, fg, accent = _page(theme)
    sub = f'<p style="opacity:.8">{escape(visible(subtitle, expand_tabs=False))}</p>' if subtitle else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="loom">
<title>{escape(visible(title, expand_tabs=False))}</title>
<style>
body {{ margin: 0; background: {bg}; color: {fg}; font-family: system-ui, sans-serif; }}
main {{ max-width: 60em; margin: 2em auto; padding: 0 1em; }}
h1 {{ font-size: 1.3em; color: {accent}; }}
.loom-tok[title]:hover, .loom-human:hover {{ outline: 1px solid {fg}; }}
</style>
</head>
<body>
<main>
<h1>{escape(visible(title, expand_tabs=False))}</h1>
{sub}
{path_fragment(nodes, theme)}
<p style="opacity:.7;font-size:85%">Hover a token for its probability and the alternatives the model had there
(the model's own probabilities, before any sampler). Text without a background was written by a person.</p>
</main>
</body>
</html>
"""
