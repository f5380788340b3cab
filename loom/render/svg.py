"""A block multiverse as an SVG picture (and PNG through cairosvg when it is
installed): one column per token position, each block as tall as its
sequence probability, filled with the theme's probability palette by the
token's own (conditional) probability, labelled with its token where it fits.

Hand-written SVG: rectangles and text are all it needs, and every piece of
model text goes through XML escaping."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..analysis.multiverse import Multiverse, block_label, fit_scale, layout, short_prob
from ..themes import LoomTheme
from ..tree import LoomError

FONT = 12
COLUMN = 130
HEIGHT = 600
HEADER = 62
MARGIN = 10


class RenderError(LoomError, ValueError):
    """A picture could not be written; the message says why."""


def _fit(label: str, width: float) -> str:
    room = max(1, int(width / (FONT * 0.62)))
    return label if len(label) <= room else label[: max(1, room - 1)] + "…"


def multiverse_svg(view: Multiverse, theme: LoomTheme, title: str | None = None, fit: bool = True) -> str:
    """`fit`: scale heights so the first column fills the picture (see
    fit_scale); else the full height is probability 1."""
    width = max(560, MARGIN * 2 + COLUMN * max(1, view.depth))
    height = HEADER + HEIGHT + MARGIN
    bg = theme.colors.get("background", "#000000" if theme.dark else "#ffffff")
    fg = theme.colors.get("foreground", "#ffffff" if theme.dark else "#000000")
    mass = ", ".join(f"{view.mass_at(d):.3g}" for d in range(1, view.depth + 1))
    context = view.root_text[-int((width - 2 * MARGIN) / (FONT * 0.62)) + 1 :].replace("\n", " ")
    scale = fit_scale(view) if fit else 1.0
    col = (width - 2 * MARGIN) / max(1, view.depth)
    title = title or f"{view.model}: depth {view.depth}, top-{view.k}" + (f", mass {view.mass:g}" if view.mass else "")
    title += f"; full height = p {1 / scale:.3g}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="DejaVu Sans Mono, monospace" font-size="{FONT}">',
        f'<rect width="{width}" height="{height}" fill={quoteattr(bg)}/>',
        f'<text x="{MARGIN}" y="{MARGIN + FONT}" fill={quoteattr(fg)}>{escape(title)}</text>',
        f'<text x="{MARGIN}" y="{MARGIN + 2 * FONT + 4}" fill={quoteattr(fg)} opacity="0.7">mass per column: {escape(mass)}</text>',
        f'<text x="{MARGIN}" y="{MARGIN + 3 * FONT + 8}" fill={quoteattr(fg)} opacity="0.7">…{escape(context)}</text>',
    ]
    for placed in layout(view, scale):
        b = placed.block
        x = MARGIN + (placed.depth - 1) * col
        y = HEADER + placed.top * HEIGHT
        h = (placed.bottom - placed.top) * HEIGHT
        if h < 0.05:
            continue
        i = theme.bucket(b.cond_prob)
        tip = f"{b.path_text()!r}  p={view.absolute_prob(b):.3g}  step p={b.cond_prob:.3g}"
        out.append(
            f'<rect x="{x:.2f}" y="{y:.3f}" width="{col - 2:.2f}" height="{h:.3f}" fill={quoteattr(theme.palette[i])} '
            f'stroke={quoteattr(bg)} stroke-width="0.5"><title>{escape(tip)}</title></rect>'
        )
        if h >= FONT + 2:
            label = _fit(f"{block_label(b)} {short_prob(b.prob)}", col - 8)
            out.append(
                f'<text x="{x + 4:.2f}" y="{y + min(h, 3 * FONT) / 2 + FONT / 2 - 1:.2f}" '
                f'fill={quoteattr(theme.foreground(i))} xml:space="preserve">{escape(label)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def write_svg(view: Multiverse, theme: LoomTheme, path: str | Path, title: str | None = None, fit: bool = True) -> Path:
    p = Path(path).expanduser()
    try:
        p.write_text(multiverse_svg(view, theme, title, fit), encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"{p}: cannot write the SVG ({exc.strerror or exc})") from exc
    return p


def write_png(
    view: Multiverse, theme: LoomTheme, path: str | Path, title: str | None = None, fit: bool = True, scale: float = 2.0
) -> Path:
    """Render through cairosvg (pip install cairosvg; it needs the system cairo library)."""
    try:
        import cairosvg
    except (ImportError, OSError) as exc:
        raise RenderError(
            f"PNG export needs cairosvg and the cairo library ({exc}); install them with `pip install cairosvg` "
            "(and your system's libcairo2), or export SVG"
        ) from exc
    p = Path(path).expanduser()
    try:
        cairosvg.svg2png(
            bytestring=multiverse_svg(view, theme, title, fit).encode("utf-8"), write_to=str(p), scale=scale
        )
    except OSError as exc:
        raise RenderError(f"{p}: cannot write the PNG ({exc.strerror or exc})") from exc
    return p
