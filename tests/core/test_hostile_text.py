"""Hostile text: model output, prompts and imported text holding terminal
escapes, OSC title and hyperlink sequences, Rich/Textual markup, control
characters, NUL, lone surrogates, invalid UTF-8 pieces, zero-width and
right-to-left characters, emoji with modifiers, and 1 MB lines.

It is stored byte-exact (lone surrogates included: the store keeps them as
surrogatepass UTF-8), round-trips through import and export, and the real app
driven by Pilot shows it literally: no escape or markup reaches the terminal,
every control character is drawn as a visible stand-in, nothing crashes."""

import io
import json
import re

import pytest
from rich.console import Console

from loom.cli import main
from loom.store import Session
from loom.tree import Alternative, Token

INVALID_UTF8 = b"ok\xff\xfe\xc3(\xed\xa0\x80".decode("utf-8", "surrogateescape")  # bytes kept as U+DCxx
HOSTILE = {
    "ansi colour": "\x1b[31mred\x1b[0m",
    "clear screen": "\x1b[2J\x1b[H",
    "osc title": "\x1b]0;pwned title\x07",
    "osc hyperlink": "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "c1 csi": "\x9b31mc1",
    "bold markup": "[bold]bold[/bold]",
    "link markup": "[link=https://evil.example]click[/link]",
    "closing tag": "[/]",
    "action markup": "[@click=app.quit]quit[/]",
    "escaped markup": "\\[not markup]",
    "nul": "before\x00after",
    "controls": "bell\x07 back\x08 cr\r vt\x0b ff\x0c del\x7f",
    "lone surrogates": "\ud800 and \udfff",
    "invalid utf-8": INVALID_UTF8,
    "zero width": "a\u200bb\u200cc\u200dd\ufeffe",
    "rtl override": "\u202eevil\u202c and \u2066isolate\u2069",
    "rtl script": "\u05e2\u05d1\u05e8\u05d9\u05ea \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "emoji": "\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f3f3\ufe0f\u200d\U0001f308 \U0001f1fa\U0001f1f3",
    "combining": "e\u0301" * 30,
}
PROMPT = "Prompt: " + " | ".join(HOSTILE.values())
MEGA = "x" * 1_000_000  # one 1 MB line without a space to break at
# What must never reach the screen: escapes, controls, bidi controls, surrogates.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # what Textual itself sends: colours, cursor moves


def exact(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


ALT_SOURCES = [HOSTILE[k] for k in ("closing tag", "link markup", "ansi colour", "osc title")]


def model_tokens(pieces: list[str], base_id: int) -> list[Token]:
    """A token per piece; its alternatives are hostile too (one id per text, as a tokenizer's)."""
    ids = {p: base_id + i for i, p in enumerate(dict.fromkeys(pieces))}
    return [
        Token(
            p,
            -0.2 - i % 3,
            ids[p],
            (Alternative(p, -0.2 - i % 3, ids[p]),)
            + tuple(Alternative(q, -3.0 - j, ids[q]) for j, q in enumerate(ALT_SOURCES) if q != p),
        )
        for i, p in enumerate(pieces)
    ]


def build(path):
    """root prompt -> model node of hostile tokens -> a 1 MB human line and a 1 MB model line."""
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt")
        pieces = [v for v in HOSTILE.values()]
        model = s.add_node(root.id, "".join(pieces), "model", model="hostile-model", tokens=model_tokens(pieces, 1000))
        mega_human = s.add_node(model.id, MEGA, "human")
        chunks = ["lorem" * 10] * 20_000  # 1 MB in 20,000 tokens, no newline
        mega_model = s.add_node(
            model.id, "".join(chunks), "model", model="hostile-model", tokens=[Token(c, -0.1, 5000) for c in chunks]
        )
        for text in HOSTILE.values():
            s.add_tag(model.id, text)
        s.set_note(root.id, PROMPT)
        s.current = model.id
        return {"root": root.id, "model": model.id, "mega_human": mega_human.id, "mega_model": mega_model.id}


def test_hostile_text_is_stored_byte_exact(tmp_path):
    path = tmp_path / "h.loom"
    ids = build(path)
    with Session(path) as s:
        assert exact(s.node(ids["root"]).text) == exact(PROMPT)
        model = s.node(ids["model"])
        assert [exact(t.text) for t in model.tokens] == [exact(v) for v in HOSTILE.values()]
        written = model_tokens(list(HOSTILE.values()), 1000)
        for got, want in zip(model.tokens, written):
            assert [exact(x.text) for x in got.alternatives] == [exact(x.text) for x in want.alternatives]
            assert [x.token_id for x in got.alternatives] == [x.token_id for x in want.alternatives]
        assert s.node(ids["mega_human"]).text == MEGA
        assert len(s.node(ids["mega_model"]).text) == 1_000_000
        assert sorted(map(exact, s.tags(ids["model"]))) == sorted(map(exact, HOSTILE.values()))
        assert exact(s.note(ids["root"])) == exact(PROMPT)
        assert exact(s.path_text(ids["model"])) == exact(PROMPT + "".join(HOSTILE.values()))
        previews = {r["id"]: r["preview"] for r in s.summaries(ids["model"])}
        assert previews[ids["mega_human"]] == MEGA[:200]
        assert exact(s.summaries(None)[0]["preview"]) == exact(PROMPT[:200])
    # the bytes on disk are the surrogatepass UTF-8 of the text, whatever reads them
    import sqlite3

    conn = sqlite3.connect(path)
    raw = conn.execute("SELECT CAST(text AS BLOB) FROM nodes WHERE id = ?", (ids["root"],)).fetchone()[0]
    assert raw == exact(PROMPT)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_import_and_export_keep_hostile_text(tmp_path, capsys):
    """Imported through the CLI from the original loom's JSON (surrogates as
    JSON escapes), exported as loom JSON: every text comes back exactly."""
    texts = list(HOSTILE.values())
    tree = {
        "root": {
            "text": PROMPT,
            "children": [
                {"text": t, "children": [], "generation": {"id": f"r{i}", "index": 0}} for i, t in enumerate(texts)
            ],
        },
        "model_responses": {
            f"r{i}": {
                "model": "m",
                "completions": [
                    {
                        "tokens": [
                            {
                                "generatedToken": {"token": t, "logprob": -0.5},
                                "counterfactuals": {t: -0.5, texts[0]: -2.0},
                            }
                        ]
                    }
                ],
            }
            for i, t in enumerate(texts)
        },
    }
    src = tmp_path / "hostile.json"
    src.write_text(json.dumps(tree), encoding="ascii")  # json escapes lone surrogates as \ud800
    session = tmp_path / "imported.loom"
    assert main(["import", str(src), "--into", str(session), "--quiet"]) == 0
    with Session(session) as s:
        root = s.roots()[0]
        assert exact(root.text) == exact(PROMPT)
        kids = s.children(root.id, with_tokens=True)
        assert [exact(k.text) for k in kids] == [exact(t) for t in texts]
        assert all(exact(k.tokens[0].text) == exact(k.text) for k in kids)
        assert all(texts[0] in [a.text for a in k.tokens[0].alternatives] for k in kids)
    out = tmp_path / "out.json"
    assert main(["export", str(session), "--format", "loom-json", "-o", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    by_text = [exact(n["text"]) for n in data["nodes"]]
    assert by_text == [exact(PROMPT)] + [exact(t) for t in texts]
    capsys.readouterr()


def screen(app) -> tuple[str, str]:
    """(bytes a terminal would receive, the screen as plain text) for the current screen."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.file.getvalue(), console.export_text(styles=False)


def assert_safe(app) -> str:
    raw, text = screen(app)
    leftover = CSI.sub("", raw)
    assert "\x1b" not in leftover, (
        f"an escape sequence reached the terminal: {leftover[leftover.index(chr(27)) :][:40]!r}"
    )
    bad = UNSAFE.findall(text.replace("\n", ""))
    assert not bad, f"unsafe characters drawn: {bad[:5]!r}"
    return text


@pytest.fixture
def hostile_session(tmp_path):
    path = tmp_path / "h.loom"
    ids = build(path)
    s = Session(path)
    yield s, ids
    s.close()


async def test_app_shows_hostile_text_literally(hostile_session, demo_backend):
    from loom.ui.app import LoomApp
    from loom.ui.panels import ChildrenList, TokenInfo, TreePanel
    from loom.ui.pathview import PathView

    s, ids = hostile_session
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert app.node_id == ids["model"]
        text = assert_safe(app)
        # shown literally: markup as typed, escapes and controls as stand-ins
        assert "[bold]bold[/bold]" in text and "[link=https://evil.example]click[/link]" in text
        assert "\u241b[31mred\u241b[0m" in text  # ␛[31mred␛[0m
        assert "before\u2400after" in text  # NUL as ␀
        assert "<U+202E>evil" in text
        assert "pwned title" in text and app.title == "loom"  # the OSC title is text, not a title
        # every token of the hostile node under the cursor, with its alternatives
        pv = app.query_one(PathView)
        info = app.query_one(TokenInfo)
        for _ in HOSTILE:
            await pilot.press("full_stop")
            await pilot.pause()
            assert_safe(app)
        assert info.token is not None and info.token.text == list(HOSTILE.values())[-1]
        # the children list and the tree show the 1 MB children as previews
        children = app.query_one(ChildrenList)
        assert children.option_count == 2
        # the 1 MB lines: shown, cut to the view's width, scrollable to the end
        for node_id in (ids["mega_human"], ids["mega_model"]):
            app.show_node(node_id)
            await pilot.pause()
            assert_safe(app)
            pv.scroll_end(animate=False)
            await pilot.pause()
            assert_safe(app)
        assert app.query_one(TreePanel) is not None
        # fork at a hostile alternative (its text goes into a notification)
        app.show_node(ids["model"])
        await pilot.pause()
        pv.move_cursor(pv.tokens.index((1, list(HOSTILE).index("nul"))))  # alternative 1 is "[/]"
        app.show_token()
        await pilot.press("a")
        await pilot.press("down", "enter")
        await pilot.pause()
        forked = s.node(app.node_id)
        assert forked.derived_from == ids["model"]
        assert_safe(app)


async def test_edit_screen_shows_hostile_text_safely(hostile_session, demo_backend):
    from loom.ui.app import LoomApp

    s, ids = hostile_session
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(160, 50)) as pilot:
        app.show_node(ids["root"])
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        from loom.textsafe import from_editable

        shown = app.screen.query_one("TextArea").text
        # control characters are private-use stand-ins in the editor and come back exactly
        assert exact(from_editable(shown)) == exact(PROMPT)
        assert_safe(app)
        count = s.count()
        await pilot.press("ctrl+s")  # saving without a change adds nothing
        await pilot.pause()
        assert s.count() == count and s.node(ids["root"]).text == PROMPT
        await pilot.press("e")
        await pilot.pause()
        area = app.screen.query_one("TextArea")
        area.text = area.text + " (edited)"
        await pilot.press("ctrl+s")
        await pilot.pause()
        edited = s.node(app.node_id)
        assert exact(edited.text) == exact(PROMPT + " (edited)") and edited.derived_from == ids["root"]
        assert_safe(app)
