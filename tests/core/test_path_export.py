"""Coloured exports of a path: a self-contained HTML page and ANSI for a
terminal. Every token is there with its probability (as the theme's palette
colour) and its stored alternatives; hostile node text (markup, terminal
escapes, bidi overrides) comes out inert in both; the app's export dialog and
the Python API's path give the same."""

import math
import re
from html.parser import HTMLParser

import pytest

import loom
from loom.cli import main
from loom.experiments.generate import generate_children
from loom.io import export_text
from loom.render.html import path_fragment, pct
from loom.store import Session
from loom.themes import hex_colour, load_themes, rgb
from loom.tree import Alternative, GenerationParams, Token

HOSTILE = (
    '<script>alert(1)</script>"><img src=x onerror=alert(2)>&amp;</span>'
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rover\x00nul\x9b31m\u202eevil\u202c"
)
# what a terminal or a viewer could act on: C0 but newline and tab, DEL, C1, bidi controls, surrogates
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
LOOM_SGR = re.compile(r"\x1b\[(?:0|48;2;\d{1,3};\d{1,3};\d{1,3}|38;2;\d{1,3};\d{1,3};\d{1,3})m")
TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "p", "div", "span"}


class Page(HTMLParser):
    """Every tag with its attributes, the token spans, and the text as a browser shows it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tokens: list[dict] = []
        self.text: list[str] = []
        self._in: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self._in.append(tag)
        if a.get("class") == "loom-tok":
            self.tokens.append({**a, "text": ""})

    def handle_endtag(self, tag):
        self._in.pop()

    def handle_data(self, data):
        if self._in and self._in[-1] == "span" and self.tokens and self.tags[-1][1].get("class") == "loom-tok":
            self.tokens[-1]["text"] += data
        if "style" not in self._in and "title" not in self._in:
            self.text.append(data)


@pytest.fixture
def hostile(session):
    root = session.add_node(None, "Prompt: " + HOSTILE, "prompt")
    pieces = ["<b>bold?</b>", "\x1b[31m", " & ", "\u202e", "</div><script>x()</script>"]
    toks = [
        Token(
            p,
            math.log(0.03 + 0.2 * i),
            100 + i,
            (Alternative(p, math.log(0.03 + 0.2 * i), 100 + i), Alternative("\x1b[2J<i onmouseover=x>", -2.0, 99)),
        )
        for i, p in enumerate(pieces)
    ]
    child = session.add_node(root.id, "".join(pieces), "model", model="demo", tokens=toks)
    session.current = child.id
    return session, root, child


@pytest.fixture
def demo_path(demo_backend, session):
    root = session.add_node(None, "Once upon a time", "prompt")
    node = generate_children(session, demo_backend, root.id, GenerationParams(n=1, max_tokens=30, seed=5)).nodes[0]
    edit = session.add_node(node.id, " Then a person wrote this.", "human")
    last = generate_children(session, demo_backend, edit.id, GenerationParams(n=1, max_tokens=20, seed=6)).nodes[0]
    session.current = last.id
    return session, session.path_nodes(last.id)  # as stored (logprobs are kept to 4 decimals)


def test_html_holds_every_token_with_its_probability_colour_and_alternatives(demo_path):
    session, nodes = demo_path
    theme = load_themes()[0]["loom-dark"]
    html, count = export_text(session, "html", theme=theme)
    assert count == 4
    page = Page(html)
    tokens = [(n, i, t) for n in nodes for i, t in enumerate(n.tokens or ())]
    assert len(page.tokens) == len(tokens) == 50
    for span, (node, i, tok) in zip(page.tokens, tokens):
        assert span["text"] == tok.text and int(span["data-node"]) == node.id and int(span["data-i"]) == i
        assert float(span["data-p"]) == pytest.approx(tok.prob, rel=1e-5)
        b = theme.bucket(tok.prob)
        assert f"background:{hex_colour(theme.palette[b])}" in span["style"]
        title = span["title"]  # the hover: the token's probability and every stored alternative with its own
        assert f"p {pct(tok.prob)}" in title and len(tok.alternatives) == 10
        for rank, alt in enumerate(tok.alternatives, 1):
            assert f"{rank:>3}. {pct(alt.prob):>7}  {repr(alt.text)}" in title
    # human text (the prompt and the person's line) in the neutral colour, no background
    humans = [a for t, a in page.tags if a.get("class") == "loom-human"]
    assert len(humans) == 2 and all("background" not in a["style"] for a in humans)
    assert "".join(page.text).count("Once upon a time") == 1
    assert "<script" not in html and "Content-Security-Policy" in html


def test_the_palette_follows_the_theme(demo_path):
    session, _ = demo_path
    light = load_themes()[0]["loom-light"]
    html, _ = export_text(session, "html", theme="loom-light")
    assert any(f"background:{hex_colour(c)}" in html for c in light.palette)
    ansi, _ = export_text(session, "ansi", theme="loom-light")
    assert any("48;2;{};{};{}m".format(*rgb(c)) in ansi for c in light.palette)


def test_hostile_text_is_inert_in_html(hostile, capsys):
    s, root, child = hostile
    assert main(["export", str(s.path), "-f", "html"]) == 0
    html = capsys.readouterr().out
    page = Page(html)
    assert {t for t, _ in page.tags} <= TAGS
    assert not any(k.startswith("on") or k == "src" for _, a in page.tags for k in a)
    assert not UNSAFE.search(html), UNSAFE.findall(html)[:5]
    shown = "".join(page.text)
    # the markup in the text is text a reader sees, escapes and bidi overrides as visible stand-ins
    assert '<script>alert(1)</script>"><img src=x onerror=alert(2)>&amp;</span>' in shown
    assert "␛]0;pwned␇" in shown and "<U+202E>evil" in shown
    assert [t["text"] for t in page.tokens] == [
        "<b>bold?</b>",
        "␛[31m",
        " & ",
        "<U+202E>",
        "</div><script>x()</script>",
    ]
    # in the hover, texts are quoted with their escapes spelled out
    assert all("'\\x1b[2J<i onmouseover=x>'" in t["title"] for t in page.tokens)
    assert "'\\u202e'" in page.tokens[3]["title"]


def test_hostile_text_is_inert_in_ansi_and_the_only_escapes_are_loom_colours(hostile, capsys, tmp_path):
    s, root, child = hostile
    assert main(["export", str(s.path), "-f", "ansi"]) == 0
    out = capsys.readouterr().out
    codes = LOOM_SGR.findall(out)
    rest = LOOM_SGR.sub("", out)
    assert "\x1b" not in rest and not UNSAFE.search(rest), UNSAFE.findall(rest)[:5]
    assert "Prompt: <script>alert(1)</script>" in rest and "␛]0;pwned␇" in rest and "<U+202E>evil" in rest
    # each of the five tokens (and each of the six legend chips) is one background, one colour, one reset
    assert len(codes) == 3 * (5 + 6)
    theme = load_themes()[0]["loom-dark"]
    for tok in child.tokens:
        assert "\x1b[48;2;{};{};{}m".format(*rgb(theme.palette[theme.bucket(tok.prob)])) in out
    # to a file, the same bytes
    target = tmp_path / "p.ansi"
    assert main(["export", str(s.path), "-f", "ansi", "-o", str(target), "--quiet"]) == 0
    assert target.read_text(encoding="utf-8") == out


def test_bad_export_options_are_refused(hostile, capsys):
    s, root, child = hostile
    for args, words in (
        (["-f", "html", "--theme", "nope"], "no theme 'nope'"),
        (["-f", "ansi", "--raw"], "--raw"),
        (["-f", "csv", "--theme", "loom-light"], "--theme applies to html and ansi"),
    ):
        assert main(["export", str(s.path), *args]) == 2
        assert words in capsys.readouterr().err


def test_the_python_path_shows_the_same_html_in_a_notebook(demo_path, tmp_path, monkeypatch):
    session, nodes = demo_path
    path = loom.path(session, theme="loom-dark")
    assert isinstance(path, loom.TokenPath) and path.text == "".join(n.text for n in nodes)
    theme = load_themes()[0]["loom-dark"]
    frag = path._repr_html_()
    assert frag == path_fragment(nodes, theme) and frag in path.to_html()
    page, _ = export_text(session, "html", theme=theme)
    assert frag in page  # the notebook shows exactly the exported path
    rows = path.rows()
    assert "".join(r["text"] for r in rows) == path.text
    assert [r["prob"] for r in rows if r["index"] is not None] == [t.prob for t in path.tokens]
    assert rows[1]["alt1_prob"] == pytest.approx(nodes[1].tokens[0].alternatives[0].prob)
    assert path.to_ansi().count("\x1b[0m") >= len(path.tokens)


async def test_the_app_exports_the_shown_path_in_its_theme(demo_path, demo_backend, tmp_path):
    from textual.widgets import Input, Select

    from loom.ui.app import LoomApp

    session, nodes = demo_path
    app = LoomApp(session, backend=demo_backend)
    async with app.run_test(size=(140, 48)) as pilot:
        app.theme = "loom-light"
        await pilot.pause()
        for fmt in ("html", "ansi"):
            await pilot.press("x")
            await pilot.pause()
            app.screen.query_one("#format", Select).value = fmt
            await pilot.pause()
            out = tmp_path / f"path.{fmt}"
            app.screen.query_one("#path", Input).value = str(out)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            want, _ = export_text(Session(session.path, readonly=True), fmt, nodes[-1].id, theme="loom-light")
            assert out.read_text(encoding="utf-8") == want
