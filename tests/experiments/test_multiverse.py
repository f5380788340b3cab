"""The block multiverse against the real demo model: every block's height is
its sequence's probability from a separate, uncached forward pass, the
blocks of a column sum to the mass expanded, and zooming renormalises."""

import json
import math
import xml.etree.ElementTree as ET

import pytest

from loom.analysis.multiverse import (
    Block,
    Multiverse,
    MultiverseError,
    layout,
)
from loom.backends.base import Backend
from loom.experiments.multiverse import add_branch, expand, zoom, zoom_out
from loom.themes import DEFAULT_THEME, load_themes

PROMPT = "The old king looked at his daughter and said"


def direct_logprobs(backend, prompt: str, ids: list[int]):
    """Log-softmax rows of one plain forward pass over prompt + ids (no cache, no batching)."""
    import torch

    full = backend.encode(prompt) + ids
    with torch.inference_mode():
        logits = backend.model(input_ids=torch.tensor([full])).logits[0].float()
    return torch.log_softmax(logits, -1), len(full) - len(ids)


def direct_seq_logprob(backend, prompt: str, ids: list[int]) -> float:
    logp, start = direct_logprobs(backend, prompt, ids)
    return sum(float(logp[start + i - 1, t]) for i, t in enumerate(ids))


@pytest.fixture(scope="module")
def view(demo_backend):
    return expand(demo_backend, PROMPT, depth=3, k=3)


def test_block_heights_are_sequence_probabilities_from_a_direct_forward_pass(demo_backend, view):
    blocks = list(view.walk())
    # k=3 children under the root and under every block that is not the end of the text
    assert len(blocks) == 3 + 3 * sum(1 for b in blocks if b.depth < 3 and not b.terminal)
    for b in blocks:
        ids = [x.token_id for x in b.path()]
        assert b.prob == pytest.approx(math.exp(direct_seq_logprob(demo_backend, PROMPT, ids)), rel=1e-3, abs=1e-12)
        assert b.prob == pytest.approx(math.prod(x.cond_prob for x in b.path()), rel=1e-9)


def test_children_are_the_top_k_of_the_full_distribution(demo_backend, view):
    for parent in [None, *[b for b in view.walk() if b.depth < view.depth and not b.terminal]]:
        ids = [x.token_id for x in parent.path()] if parent else []
        logp, _ = direct_logprobs(demo_backend, PROMPT, ids)
        top = logp[-1].topk(3).indices.tolist()
        kids = parent.children if parent else view.blocks
        assert [c.token_id for c in kids] == top


def test_column_heights_sum_to_the_mass_expanded(view):
    assert view.depth == 3
    for d in range(1, 4):
        parents = [None] if d == 1 else [b for b in view.column(d - 1)]
        expected = math.fsum(
            (p.prob if p else 1.0) * math.fsum(c.cond_prob for c in (p.children if p else view.blocks)) for p in parents
        )
        assert view.mass_at(d) == pytest.approx(expected, rel=1e-9)
        assert 0 < view.mass_at(d) <= (1.0 if d == 1 else view.mass_at(d - 1) + 1e-12)


def test_layout_nests_children_inside_their_parent(view):
    places = {id(p.block): p for p in layout(view)}
    assert len(places) == len(list(view.walk()))
    for p in places.values():
        assert p.bottom - p.top == pytest.approx(p.block.prob)
        if p.block.parent is not None:
            outer = places[id(p.block.parent)]
            assert outer.top - 1e-12 <= p.top and p.bottom <= outer.bottom + 1e-12
    first = sorted((p for p in places.values() if p.depth == 1), key=lambda p: p.top)
    assert first[0].top == 0 and first[-1].bottom == pytest.approx(view.mass_at(1))


def test_mass_cut_off_keeps_the_fewest_tokens_that_reach_it(demo_backend):
    v = expand(demo_backend, PROMPT, depth=2, k=50, mass=0.3)
    for kids in [v.blocks, *[b.children for b in v.column(1)]]:
        probs = [c.cond_prob for c in kids]
        assert math.fsum(probs) >= 0.3 or len(kids) == 50
        assert math.fsum(probs[:-1]) < 0.3


def test_zoom_renormalises_to_the_branch_and_zoom_out_returns(demo_backend, view):
    chosen = view.blocks[1]
    z = zoom(demo_backend, view, chosen, depth=2)
    assert z.root_text == PROMPT + chosen.text
    for kid, zkid in zip(chosen.children, z.blocks):
        assert zkid.token_id == kid.token_id
        assert zkid.prob == pytest.approx(kid.prob / chosen.prob, rel=1e-4)
        assert z.absolute_prob(zkid) == pytest.approx(kid.prob, rel=1e-4)
    back = zoom_out(demo_backend, z)
    assert back.prefix == () and [b.token_id for b in back.blocks] == [b.token_id for b in view.blocks]


class TextOnly(Backend):
    """The demo model seen only through the base interface (as an API backend is)."""

    def __init__(self, inner):
        self.inner, self.name = inner, "text-only"

    def generate(self, prompt, params, cancel=None):
        return self.inner.generate(prompt, params, cancel)

    def score(self, prompt, continuations):
        return self.inner.score(prompt, continuations)

    def next_token_distribution(self, prompt, k=10):
        return self.inner.next_token_distribution(prompt, k)


def test_backends_without_token_ids_expand_through_text(demo_backend, view):
    v = expand(TextOnly(demo_backend), PROMPT, depth=1, k=3)
    assert [b.text for b in v.blocks] == [b.text for b in view.blocks]
    assert [b.prob for b in v.blocks] == pytest.approx([b.prob for b in view.blocks], rel=1e-5)


@pytest.mark.parametrize("kw, word", [({"depth": 0}, "depth"), ({"k": 0}, "k"), ({"mass": 1.5}, "mass")])
def test_bad_settings_say_which(demo_backend, kw, word):
    with pytest.raises(MultiverseError, match=word):
        expand(demo_backend, PROMPT, **{"depth": 2, "k": 2, **kw})


def test_a_block_becomes_a_real_branch(demo_backend, session, view):
    root = session.add_node(None, PROMPT, "prompt")
    z = zoom(demo_backend, view, view.blocks[0], depth=1)
    node = add_branch(session, root.id, z, z.blocks[0])
    stored = session.node(node.id)
    assert stored.parent_id == root.id and stored.text == view.blocks[0].text + z.blocks[0].text
    assert [t.token_id for t in stored.tokens] == [view.blocks[0].token_id, z.blocks[0].token_id]
    assert stored.tokens[1].logprob == pytest.approx(view.blocks[0].children[0].logprob, rel=1e-4)
    assert stored.meta["multiverse"]["prob"] == pytest.approx(z.absolute_prob(z.blocks[0]))


def test_svg_is_well_formed_and_model_text_is_escaped():
    theme = load_themes()[0][DEFAULT_THEME]
    from loom.render.svg import multiverse_svg

    b = Block('<b>&"x"</b>', 1, math.log(0.6), math.log(0.6), 1)
    c = Block("]]>", 2, math.log(0.5), math.log(0.3), 2, parent=b)
    b.children.append(c)
    v = Multiverse("<script>", [b], depth=2, k=1, mass=None, model="m<&>")
    root = ET.fromstring(multiverse_svg(v, theme, fit=False))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t and t.startswith('<b>&"x"</b>') for t in texts)
    assert any(t and t.startswith("]]>") for t in texts)
    rects = [r for r in root.iter("{http://www.w3.org/2000/svg}rect")][1:]
    assert [float(r.get("height")) for r in rects] == pytest.approx([0.6 * 600, 0.3 * 600], rel=1e-3)
    assert [r.get("fill") for r in rects] == [theme.palette[theme.bucket(0.6)], theme.palette[theme.bucket(0.5)]]
    fitted = ET.fromstring(multiverse_svg(v, theme))  # the first column fills the height; proportions kept
    rects = [r for r in fitted.iter("{http://www.w3.org/2000/svg}rect")][1:]
    assert [float(r.get("height")) for r in rects] == pytest.approx([600, 0.5 * 600], rel=1e-3)


def test_cli_multiverse_json_svg_and_png(tmp_path, capsys, demo_backend):
    from loom.cli import main
    from loom.store import Session

    path = tmp_path / "m.loom"
    with Session(path) as s:
        s.add_node(None, PROMPT, "prompt")
    svg, png = tmp_path / "m.svg", tmp_path / "m.png"
    args = [str(path), "--depth", "2", "--k", "2", "--svg", str(svg), "--json"]
    try:
        import cairosvg  # noqa: F401

        args += ["--png", str(png)]
    except (ImportError, OSError):
        png = None
    assert main(["multiverse", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["depth"] == 2 and len(data["blocks"]) == 2
    assert data["mass_per_depth"][0] == pytest.approx(sum(b["prob"] for b in data["blocks"]))
    ET.parse(svg)
    if png:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["multiverse", str(path), "--depth", "99"]) == 2
    assert "depth must be" in capsys.readouterr().err


async def test_multiverse_screen_zoom_branch_export(tmp_path, demo_backend, workers_done):
    from loom.store import Session
    from loom.ui.app import LoomApp
    from loom.ui.multiverse import BlockView, MultiverseScreen

    s = Session(tmp_path / "ui.loom")
    root = s.add_node(None, PROMPT, "prompt")
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        added = []
        screen = MultiverseScreen(s, root.id, demo_backend, app.loom_theme, depth=2, k=2, on_branch=added.append)
        app.push_screen(screen)

        async def settled():
            await workers_done(pilot)
            assert screen.view is not None and screen._cancel is None, "expansion did not finish"

        await settled()
        bv = screen.query_one(BlockView)
        assert bv.selected is screen.view.blocks[0]
        # the first block is drawn on the first row, labelled with its token
        first_row = "".join(seg.text for seg in bv.render_line(0))
        assert screen.view.blocks[0].text.strip()[:3] in first_row or screen.view.blocks[0].text.isspace()
        shown = {id(b) for b in bv.visible_blocks()}
        kids = [c for c in screen.view.blocks[0].children if id(c) in shown]
        await pilot.press("right")  # to the first child drawn (blocks under a row high are not)
        assert bv.selected is (kids[0] if kids else screen.view.blocks[0])
        if not kids:
            await pilot.press("down")
            assert bv.selected is screen.view.blocks[1]
        chosen = bv.selected
        await pilot.press("b")
        assert added and s.node(added[0].id).text == chosen.path_text()
        await pilot.press("enter")  # zoom into the chosen block
        await settled()
        assert [t.token_id for t in screen.view.prefix] == [b.token_id for b in chosen.path()]
        assert screen.view.mass_at(1) == pytest.approx(sum(b.cond_prob for b in screen.view.blocks))
        await pilot.press("backspace")
        await settled()
        assert screen.view.prefix == ()
        await pilot.press("plus")
        await settled()
        assert screen.view.depth == 3
        out = tmp_path / "pic.svg"
        await pilot.press("e")
        await pilot.pause(0.1)
        from textual.widgets import Input

        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause(0.1)
        ET.parse(out)
        await pilot.press("q")  # (escape too, once the app's priority escape lets screens have it)
        await pilot.pause(0.1)
        assert app.screen is not screen


async def test_app_keys_open_the_multiverse_views(tmp_path, demo_backend):
    from loom.store import Session
    from loom.ui.app import LoomApp
    from loom.ui.multiverse import CandidatesScreen, DistributionScreen, MultiverseScreen, VersusScreen

    s = Session(tmp_path / "keys.loom")
    s.add_node(None, PROMPT, "prompt")
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        for key, screen in [
            ("w", MultiverseScreen),
            ("d", DistributionScreen),
            ("p", CandidatesScreen),
            ("v", VersusScreen),
        ]:
            await pilot.press(key)
            await pilot.pause(0.1)
            assert isinstance(app.screen, screen), key
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, screen), key
        names = {c.title for c in app.get_system_commands(app.screen)}
        assert any("Block multiverse" in n for n in names)
