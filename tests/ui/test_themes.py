"""Theme files: the shipped ones load and are readable; a broken one names the file and the fault."""

import pytest

from loom.themes import THEMES_DIR, ThemeError, load_theme, load_themes


def luminance(hex_colour: str) -> float:
    """WCAG relative luminance."""
    h = hex_colour.lstrip("#")
    c = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_dark_light_and_colourblind_themes_ship():
    themes, errors = load_themes()
    assert errors == []
    assert {"loom-dark", "loom-light", "loom-colorblind"} <= set(themes)
    assert themes["loom-dark"].dark and not themes["loom-light"].dark


@pytest.mark.parametrize("name", ["loom-dark", "loom-light", "loom-colorblind"])
def test_token_text_is_readable_on_every_bucket(name):
    theme = load_theme(THEMES_DIR / f"{name}.toml")
    for i, bg in enumerate(theme.palette):
        assert contrast(bg, theme.foreground(i)) >= 4.5, (name, i, bg)


def test_colourblind_palette_is_sequential_in_lightness():
    # Order must not rest on hue: lightness alone runs one way across the buckets.
    theme = load_theme(THEMES_DIR / "loom-colorblind.toml")
    lum = [luminance(c) for c in theme.palette]
    assert all(a > b for a, b in zip(lum, lum[1:]))
    assert lum[0] / lum[-1] > 10


GOOD = """name = "t"
[colors]
primary = "#112233"
[palette]
edges = [0.1, 0.3, 0.6, 0.9]
colors = ["#000000", "#111111", "#222222", "#333333", "#444444"]
"""


@pytest.mark.parametrize(
    "text, message",
    [
        ("name = 't'\n[colors\nprimary = 1", "not valid TOML"),
        ("name = 't'\n[colors]\nprimary = '#fff'\n", "needs [palette] edges and colors"),
        (GOOD.replace('"#444444"]', "]"), "exactly one more color than edges"),
        (GOOD.replace("0.1, 0.3", "0.3, 0.1"), "edges must rise"),
        (GOOD.replace('primary = "#112233"', 'secondary = "#112233"'), "needs at least 'primary'"),
    ],
)
def test_broken_theme_names_the_file_and_the_fault(tmp_path, text, message):
    bad = tmp_path / "broken-theme.toml"
    bad.write_text(text)
    with pytest.raises(ThemeError) as err:
        load_theme(bad)
    assert str(bad) in str(err.value) and message in str(err.value)


def test_invalid_toml_says_the_line(tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text(GOOD + "oops = \n")
    with pytest.raises(ThemeError, match=r"mine\.toml: not valid TOML .*line 7"):
        load_theme(bad)


def test_a_broken_user_theme_does_not_hide_the_others(tmp_path):
    (tmp_path / "good.toml").write_text(GOOD.replace('name = "t"', 'name = "user-good"'))
    (tmp_path / "bad.toml").write_text("[palette]\nedges = 3\n")
    themes, errors = load_themes([tmp_path])
    assert "user-good" in themes and "loom-dark" in themes
    assert len(errors) == 1 and str(tmp_path / "bad.toml") in errors[0]


def test_built_in_fallback_matches_the_shipped_dark_theme():
    from loom.themes import FALLBACK, THEMES_DIR, load_theme

    shipped = load_theme(THEMES_DIR / "loom-dark.toml")
    assert (shipped.edges, shipped.palette, shipped.colors) == (FALLBACK.edges, FALLBACK.palette, FALLBACK.colors)
