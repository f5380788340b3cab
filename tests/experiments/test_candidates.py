"""Scored candidates against the real demo model: each candidate's score is its
sequence log-probability from a separate forward pass, and the normalised
distribution, entropy and top choice follow from those numbers."""

import json
import math

import pytest

from loom.analysis.candidates import (
    CandidateError,
    auto_separator,
    clean,
    preset,
    read_file,
)
from loom.experiments.score import score_candidates

PROMPT = "My favourite random number between 0 and 100 is"


def direct_logprob(backend, prompt: str, continuation: str) -> float:
    """One plain forward pass over prompt + continuation, summing the continuation's token log-probabilities."""
    import torch

    p = backend.encode(prompt)
    c = backend.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logp = torch.log_softmax(backend.model(input_ids=torch.tensor([p + c])).logits[0].float(), -1)
    return sum(float(logp[len(p) + i - 1, t]) for i, t in enumerate(c))


@pytest.fixture(scope="module")
def numbers(demo_backend):
    return score_candidates(demo_backend, PROMPT, preset("numbers"))


def test_numbers_preset_is_0_to_100():
    assert preset("numbers") == [str(i) for i in range(101)]


def test_scores_match_a_direct_forward_pass(demo_backend, numbers):
    assert numbers.separator == " "
    for cand in ["0", "7", "42", "100"]:
        i = numbers.candidates.index(cand)
        assert numbers.logprobs[i] == pytest.approx(direct_logprob(demo_backend, PROMPT, " " + cand), abs=1e-3)


def test_distribution_is_normalised_with_its_entropy_and_top(numbers):
    probs = numbers.probs
    assert math.fsum(probs) == pytest.approx(1.0)
    raw = [math.exp(lp) for lp in numbers.logprobs]
    assert probs == pytest.approx([r / math.fsum(raw) for r in raw], rel=1e-6)
    assert numbers.mass == pytest.approx(math.fsum(raw))
    assert numbers.entropy_bits == pytest.approx(-sum(p * math.log2(p) for p in probs))
    assert 0 <= numbers.entropy_bits <= math.log2(101)
    best = max(range(101), key=lambda i: numbers.logprobs[i])
    assert numbers.top == (numbers.candidates[best], probs[best])
    assert numbers.ranked()[0][0] == numbers.candidates[best]


def test_a_subset_keeps_the_same_ratios(demo_backend, numbers):
    sub = score_candidates(demo_backend, PROMPT, ["3", "50", "99"])
    full = [numbers.probs[numbers.candidates.index(c)] for c in ["3", "50", "99"]]
    assert sub.probs == pytest.approx([f / sum(full) for f in full], rel=1e-4)


def test_separator_and_end(demo_backend):
    r = score_candidates(demo_backend, PROMPT + " ", ["7"], end=".")
    assert r.separator == "" and r.end == "."
    assert r.logprobs[0] == pytest.approx(direct_logprob(demo_backend, PROMPT + " ", "7."), abs=1e-3)
    assert auto_separator("is") == " " and auto_separator("is\n") == "" and auto_separator("") == ""


def test_bad_lists_say_what_is_wrong(tmp_path):
    with pytest.raises(CandidateError, match="empty"):
        clean(["a", ""])
    with pytest.raises(CandidateError, match="no candidates"):
        clean([])
    with pytest.raises(CandidateError, match="presets: numbers"):
        preset("colours")
    with pytest.raises(CandidateError, match="cannot read"):
        read_file(tmp_path / "missing.txt")
    assert clean(["b", "a", "b"]) == ["b", "a"]
    f = tmp_path / "c.txt"
    f.write_text(" red\n\n blue \n", encoding="utf-8")
    assert read_file(f) == [" red", " blue "]


def test_cli_score_and_dist(tmp_path, capsys, demo_backend):
    from loom.cli import main
    from loom.store import Session

    path = tmp_path / "dice.loom"
    with Session(path) as s:
        s.add_node(None, PROMPT, "prompt")
    assert main(["score", str(path), "--candidate", "7", "--candidate", "42", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["text"] for c in data["candidates"]] == ["7", "42"]
    assert sum(c["prob"] for c in data["candidates"]) == pytest.approx(1.0)
    with Session(path) as s:
        assert s.records("candidates")[-1]["result"]["top"] == data["top"]
    assert main(["score", str(path), "--preset", "numbers", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("101 candidates") and "top choice" in out
    assert main(["score", str(path)]) == 2
    assert "no candidates" in capsys.readouterr().err

    assert main(["dist", str(path), "--k", "5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    direct = demo_backend.next_token_distribution(PROMPT, 5)
    assert [a["id"] for a in d["alternatives"]] == [a.token_id for a in direct.alternatives]
    assert d["entropy_bits"] == pytest.approx(direct.entropy_bits, rel=1e-4)
    assert main(["dist", str(path), "--token", "3"]) == 2
    assert "has no tokens" in capsys.readouterr().err


async def test_candidates_and_distribution_screens(tmp_path, demo_backend, workers_done):
    from textual.widgets import Checkbox, Static, TextArea

    from loom.store import Session
    from loom.ui.app import LoomApp
    from loom.ui.multiverse import CandidatesScreen, DistributionScreen

    s = Session(tmp_path / "ui.loom")
    root = s.add_node(None, PROMPT, "prompt")
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(130, 45)) as pilot:
        screen = CandidatesScreen(s, demo_backend, root.id, app.loom_theme)
        app.push_screen(screen)
        await pilot.pause(0.1)
        screen.query_one(TextArea).text = "seven\n\n<b>[red]x[/red]</b>\n"
        screen.query_one(Checkbox).value = True
        await pilot.press("ctrl+r")
        await workers_done(pilot)
        result = screen.result
        assert result.candidates[:2] == ["seven", "<b>[red]x[/red]</b>"] and len(result.candidates) == 103
        assert math.fsum(result.probs) == pytest.approx(1.0)
        shown = str(screen.query_one("#result", Static).render())
        assert "top choice" in shown
        assert s.records("candidates")[-1]["node_id"] == root.id
        screen.action_close()
        await pilot.pause(0.1)
        assert not isinstance(app.screen, CandidatesScreen)
        dist = DistributionScreen(s, demo_backend, root.id, None, app.loom_theme, k=5)
        app.push_screen(dist)
        await workers_done(pilot)
        chart = str(dist.query_one("#chart", Static).render())
        top = demo_backend.next_token_distribution(PROMPT, 5)
        assert f"{top.entropy_bits:.2f} bits" in chart
        assert chart.count("\n") == 5


def test_complete_answer_is_text_then_a_terminator(demo_backend):
    """P(" 1" as a complete answer) excludes " 10".." 19": it is P(" 1") times the
    mass of end-of-text and every token starting with punctuation or a newline next."""
    import torch

    from loom.experiments.score import TERMINATORS

    result = score_candidates(demo_backend, PROMPT, ["1", "10"], answer="complete")
    assert result.answer == "complete"
    enc = lambda t: demo_backend.tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    tok = demo_backend.tokenizer
    term = [i for i in range(len(tok)) if tok.decode([i]).startswith(TERMINATORS)] + [tok.eos_token_id]
    for cand, lp, text_lp in zip(result.candidates, result.logprobs, result.text_logprobs):
        ids = enc(PROMPT) + enc(" " + cand)
        with torch.no_grad():
            logp = torch.log_softmax(demo_backend.model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
        first = len(enc(PROMPT))
        direct_text = sum(float(logp[p - 1, ids[p]]) for p in range(first, len(ids)))
        assert text_lp == pytest.approx(direct_text, abs=1e-3)
        assert lp == pytest.approx(direct_text + float(torch.logsumexp(logp[-1, sorted(set(term))], 0)), abs=1e-3)
        assert lp < text_lp  # a complete answer is a part of the text's probability
    # the default text scores are the text alone
    plain = score_candidates(demo_backend, PROMPT, ["1", "10"])
    assert plain.answer == "text" and plain.logprobs == pytest.approx(result.text_logprobs, abs=1e-6)


def test_cli_numbers_preset_scores_complete_answers_and_says_so(tmp_path, capsys):
    from loom.cli import main
    from loom.store import Session

    path = tmp_path / "fav.loom"
    with Session(path) as s:
        s.add_node(None, PROMPT, "prompt")
    assert main(["score", str(path), "--preset", "numbers", "--top", "3"]) == 0
    assert "P(candidate as a complete answer)" in capsys.readouterr().out
    assert main(["score", str(path), "--preset", "numbers", "--answer", "text", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] == "text"
