"""Text charts of probabilities: bars of the next tokens, scored candidates.
Model text goes in through textsafe's visible(), never as markup."""

from __future__ import annotations

import math

from rich.text import Text

from ..analysis.candidates import CandidateScores
from ..textsafe import visible
from ..themes import LoomTheme
from ..tree import Distribution

BAR = 36


def bar_text(prob: float, width: int = BAR) -> str:
    eighths = round(max(0.0, min(1.0, prob)) * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def token_label(text: str) -> str:
    """A token with its edges' spaces shown (␣), escapes visible, never markup."""
    if not text:
        return "∅"
    inner = visible(repr(text)[1:-1])
    core = inner.strip(" ")
    lead = len(inner) - len(inner.lstrip(" "))
    trail = len(inner) - len(inner.rstrip(" "))
    return "␣" * lead + core + "␣" * trail if core else "␣" * len(inner)


def distribution_chart(dist: Distribution, theme: LoomTheme, chosen: int | None = None) -> Text:
    """Bars of the top next tokens, coloured with the palette, and the entropy."""
    t = Text()
    labels = [token_label(a.text) for a in dist.alternatives]
    width = min(24, max((len(s) for s in labels), default=4))
    peak = max((a.prob for a in dist.alternatives), default=1.0) or 1.0
    for alt, label in zip(dist.alternatives, labels):
        i = theme.bucket(alt.prob)
        t.append(f"{label[:width]:<{width}} ", style="bold" if alt.token_id == chosen else "")
        t.append(f"{alt.prob:7.2%} ")
        t.append(
            bar_text(alt.prob / peak),
            style=theme.palette[i]
            if theme.palette[i] != theme.colors.get("panel")
            else theme.colors.get("primary", ""),
        )
        if chosen is not None and alt.token_id == chosen:
            t.append("  ◀ written here", style="bold")
        t.append("\n")
    shown = math.fsum(a.prob for a in dist.alternatives)
    ent = "n/a" if dist.entropy_bits is None else f"{dist.entropy_bits:.2f} bits"
    t.append(
        f"entropy {ent}; the top {len(dist.alternatives)} hold {shown:.1%} (bars relative to the first)", style="italic"
    )
    return t


# -- scored candidates ------------------------------------------------------------
def candidates_chart(result: CandidateScores, theme: LoomTheme, rows: int = 20) -> Text:
    t = Text()
    top, top_p = result.top
    t.append(
        "P(candidate as a complete answer: then end-of-text, punctuation or a newline)\n"
        if result.answer == "complete"
        else "P(candidate's text)\n",
        style="dim",
    )
    t.append("top choice ", style="bold")
    t.append(visible(top), style="bold underline")
    t.append(
        f" ({top_p:.1%}) · entropy {result.entropy_bits:.2f} bits of at most {math.log2(len(result.candidates)):.2f}"
        f" · the candidates hold {result.mass:.3g} of the model's probability\n"
    )
    if len(result.candidates) <= 200:
        # The shape in the candidates' own order (0..100 for the preset), one column each.
        peak = max(result.probs)
        levels = " ▁▂▃▄▅▆▇█"
        t.append("in order: ", style="dim")
        t.append(
            "".join(levels[min(8, math.ceil(p / peak * 8))] for p in result.probs),
            style=theme.colors.get("primary", ""),
        )
        t.append(f"  ({visible(result.candidates[0])} … {visible(result.candidates[-1])})\n", style="dim")
    ranked = result.ranked()
    width = min(24, max(len(token_label(c)) for c, _, _ in ranked[:rows]))
    for c, p, _ in ranked[:rows]:
        t.append(f"{token_label(c)[:width]:<{width}} {p:7.2%} ")
        t.append(
            bar_text(p / ranked[0][1]),
            style=theme.palette[theme.bucket(p)]
            if theme.bucket(p) < len(theme.edges)
            else theme.colors.get("primary", ""),
        )
        t.append("\n")
    if len(ranked) > rows:
        t.append(f"… {len(ranked) - rows} more\n", style="dim")
    return t
