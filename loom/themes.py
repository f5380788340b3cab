"""Themes: files in themes/ (and the user's config folder) holding Textual theme
colours and the probability palette with its bucket edges. No textual here:
the UI turns a LoomTheme into a textual Theme."""

from __future__ import annotations

import bisect
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .tree import LoomError

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"  # in a checkout
PACKAGED_THEMES = Path(__file__).resolve().parent / "_themes"  # in an installed wheel (pyproject maps themes/ here)


class ThemeError(LoomError, ValueError):
    """A theme file is broken; the message names the file and the problem."""


@dataclass(frozen=True)
class LoomTheme:
    name: str
    dark: bool
    colors: dict[str, str]
    # bucket i holds probabilities in [edges[i-1], edges[i]); len(colors) == len(edges) + 1
    edges: tuple[float, ...]
    palette: tuple[str, ...]
    text_on_palette: tuple[str, ...] = field(default=())
    path: Path | None = None

    def bucket(self, prob: float) -> int:
        return bisect.bisect_right(self.edges, prob)

    def bucket_label(self, i: int) -> str:
        lo = 0.0 if i == 0 else self.edges[i - 1]
        hi = 1.0 if i == len(self.edges) else self.edges[i]
        return f"{lo:.0%}-{hi:.0%}" if i < len(self.edges) else f"≥{lo:.0%}"

    def foreground(self, i: int) -> str:
        return self.text_on_palette[i] if self.text_on_palette else ("#ffffff" if self.dark else "#000000")


def rgb(colour: str) -> tuple[int, int, int]:
    """A theme colour ('#1d4f5f', 'navy', ...) as red, green, blue: what an export
    writes, so a colour in a theme file can never carry anything else into a page
    or a terminal."""
    from rich.color import Color, ColorParseError

    try:
        t = Color.parse(colour).get_truecolor()
    except ColorParseError as exc:
        raise ThemeError(f"{colour!r} is not a colour ({exc})") from None
    return t.red, t.green, t.blue


def hex_colour(colour: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb(colour))


def load_theme(path: Path) -> LoomTheme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{path}: cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML ({exc})") from exc
    try:
        pal = data["palette"]
        edges = tuple(float(e) for e in pal["edges"])
        colors = tuple(str(c) for c in pal["colors"])
        fg = tuple(str(c) for c in pal.get("text", ()))
        theme = LoomTheme(
            name=str(data.get("name", path.stem)),
            dark=bool(data.get("dark", True)),
            colors={k: str(v) for k, v in data.get("colors", {}).items()},
            edges=edges,
            palette=colors,
            text_on_palette=fg,
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ThemeError(f"{path}: missing or wrong field ({exc!r}); a theme needs [palette] edges and colors") from exc
    if len(colors) != len(edges) + 1 or len(colors) < 5:
        raise ThemeError(f"{path}: the palette needs at least 5 colors and exactly one more color than edges")
    if list(edges) != sorted(edges) or not all(0 < e < 1 for e in edges):
        raise ThemeError(f"{path}: palette edges must rise strictly between 0 and 1")
    if fg and len(fg) != len(colors):
        raise ThemeError(f"{path}: palette text needs one color per palette color")
    if "primary" not in theme.colors:
        raise ThemeError(f"{path}: [colors] needs at least 'primary'")
    return theme


def theme_dirs(extra: list[Path] | None = None) -> list[Path]:
    from platformdirs import user_config_path

    dirs = [THEMES_DIR, PACKAGED_THEMES, user_config_path("loom") / "themes", *(extra or [])]
    return [d for d in dirs if d.is_dir()]


def load_themes(extra: list[Path] | None = None) -> tuple[dict[str, LoomTheme], list[str]]:
    """All themes found (later folders override earlier), and an error line for each broken file."""
    themes: dict[str, LoomTheme] = {}
    errors: list[str] = []
    for folder in theme_dirs(extra):
        for path in sorted(folder.glob("*.toml")):
            try:
                t = load_theme(path)
                themes[t.name] = t
            except ThemeError as exc:
                errors.append(str(exc))
    if DEFAULT_THEME not in themes:  # e.g. installed without the themes/ folder: colours must still work
        themes[DEFAULT_THEME] = FALLBACK
        errors.append(
            f"theme {DEFAULT_THEME!r} not found in {', '.join(map(str, theme_dirs(extra))) or 'any theme folder'}; using its built-in copy"
        )
    return themes, errors


DEFAULT_THEME = "loom-dark"
FALLBACK = LoomTheme(
    name=DEFAULT_THEME,
    dark=True,
    colors={
        "primary": "#7aa2f7",
        "secondary": "#bb9af7",
        "accent": "#e0af68",
        "background": "#1a1b26",
        "surface": "#1f2335",
        "panel": "#24283b",
        "foreground": "#c0caf5",
        "success": "#9ece6a",
        "warning": "#e0af68",
        "error": "#f7768e",
    },
    edges=(0.05, 0.2, 0.5, 0.8, 0.95),
    palette=("#7a1f2b", "#8a4b12", "#6b5d10", "#2f5d2a", "#1d4f5f", "#3b4a7a"),
)


def pick_theme(name: str | None = None, configured: str | None = None) -> LoomTheme:
    """The theme an export is coloured with: `name` (a ThemeError if there is no such
    theme), else the configured one, else loom's default (as the app falls back)."""
    themes, _ = load_themes()
    if name is not None:
        if name not in themes:
            raise ThemeError(f"no theme {name!r} (themes: {', '.join(sorted(themes))})")
        return themes[name]
    return themes.get(configured or DEFAULT_THEME) or themes[DEFAULT_THEME]
