"""What every figure shares: matplotlib imported only when a figure is asked
for (the optional `plot` extra), a Figure drawn without pyplot on the Agg
canvas (it never opens a window nor changes a notebook's backend), the suffix
check made before any work, and labels made from model text.

Model text (tokens, endings, model names) is made visible (textsafe), with
control characters written as escapes (\\x1b: the figure font has no control
pictures), and never parsed as mathtext: every figure is built and saved with
`text.parse_math` off, so "$5 and $x$" is drawn as written. A returned Figure
shows itself in a notebook (`_repr_png_`), whichever backend the notebook uses."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..textsafe import one_line, visible
from .svg import RenderError

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = (".png", ".svg")
DPI = 100  # a modest PNG: a figure is a few tens of KB
NO_MATH: dict[RcKeyType, Any] = {
    "text.parse_math": False,
    "text.usetex": False,
    "svg.hashsalt": "loom",
}  # hashsalt: the same SVG every run

_FIGURE: list[Any] = []  # the Figure subclass, made once on first use


def matplotlib_figure() -> Any:
    """The Figure class figures are made of (matplotlib's, able to show itself in
    a notebook); a RenderError says how to install matplotlib when it is missing."""
    if _FIGURE:
        return _FIGURE[0]
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise RenderError("figures need matplotlib: pip install 'loom-multiverse[plot]'") from exc

    class LoomFigure(Figure):
        """A matplotlib Figure on the Agg canvas that a notebook shows as a PNG."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            FigureCanvasAgg(self)

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            with no_math():
                self.savefig(buf, format="png", dpi=DPI)
            return buf.getvalue()

    _FIGURE.append(LoomFigure)
    return LoomFigure


@contextmanager
def no_math() -> Iterator[None]:
    """matplotlib settings under which text is drawn literally (no mathtext, no TeX)."""
    import matplotlib

    with matplotlib.rc_context(NO_MATH):
        yield


def check_figure(path: str | Path) -> Path:
    """Refuse a figure that cannot be written (a suffix other than .png or .svg,
    no matplotlib) before any work is done."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in FORMATS:
        raise RenderError(f"{p}: a figure is written as {' or '.join(FORMATS)} (by the file's suffix)")
    matplotlib_figure()
    return p


def make_figure(draw: Callable[[Any], None], size: tuple[float, float], path: str | Path | None = None) -> Any:
    """A new figure of `size` inches, drawn by `draw(fig)` with mathtext off, and
    written to `path` (.png or .svg) when one is given; returns the Figure."""
    p = None if path is None else check_figure(path)
    with no_math():
        fig = matplotlib_figure()(figsize=size, layout="constrained")
        draw(fig)
        if p is not None:
            save_figure(fig, p)
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write `fig` as PNG or SVG by the suffix of `path` (its folder made if missing)."""
    p = check_figure(path)
    fmt = p.suffix[1:].lower()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with no_math():
            # no date in an SVG: the same figure is the same file
            fig.savefig(p, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
    except OSError as exc:
        raise RenderError(f"{p}: cannot write the figure ({exc.strerror or exc})") from exc
    return p


# textsafe's stand-ins for control characters (␛...) as escapes the figure font can draw
_PICTURES = {0x2400 + code: f"\\x{code:02x}" for code in range(0x20)} | {0x2421: "\\x7f"}


def shown(text: str) -> str:
    """Text for a figure: made visible (textsafe), control characters as \\x1b-style escapes."""
    return visible(text).translate(_PICTURES)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def token_label(text: str, width: int = 12) -> str:
    """A token for a tick label: escapes as in repr ('\\n'), made visible, cut to `width`."""
    return _cut(shown(repr(text)[1:-1]), width)


def text_label(text: str, width: int = 40) -> str:
    """Model or user text on one line (whitespace collapsed, made visible), cut to `width`."""
    return _cut(shown(one_line(text, 100_000)), width)


def percent_axis(axis: Any) -> None:
    """Show a 0-1 axis as percentages."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
