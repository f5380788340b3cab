"""Target 2: time to first token when generating from a node whose ancestors
were already processed (their key/value cache is reused), against a cold
prefill of the same context, and a check that both give the same branches for
the same seed. The context is 1,000 tokens on a model with 1,024 positions
(GPT-2 when cached, else the GPT-2-small-shaped stand-in) and 480 tokens on the
demo model, whose 512 positions cannot hold 1,000."""

from __future__ import annotations

import time

from loom.tree import GenerationParams, TokenEvent

from . import models
from .report import Figure, show

N, TOKENS, CHILD = 8, 16, 16  # branches, tokens per branch, tokens of the new node under the cached ancestors


def first_token(backend, prompt: str, seed: int) -> tuple[float, dict]:
    """Seconds to the first token, and every branch's (token id, text, logprob) list."""
    params = GenerationParams(n=N, max_tokens=TOKENS, temperature=1.0, seed=seed, logprobs=10)
    start = time.perf_counter()
    ttft = None
    out: dict[int, list] = {}
    for ev in backend.generate(prompt, params):
        if isinstance(ev, TokenEvent):
            if ttft is None:
                ttft = time.perf_counter() - start
            out.setdefault(ev.branch, []).append((ev.token.token_id, ev.token.text, ev.token.logprob))
    return ttft, out


def compare(a: dict, b: dict) -> tuple[bool, float]:
    same = a.keys() == b.keys() and all([x[:2] for x in a[k]] == [x[:2] for x in b[k]] for k in a)
    diff = max((abs(x[2] - y[2]) for k in a for x, y in zip(a[k], b.get(k, ()))), default=0.0)
    return same, diff


def bench_model(backend, context: int, quick: bool) -> list[Figure]:
    name = models.label(backend)
    ids = models.prompt_ids(backend, context)
    parent = backend.tokenizer.decode(ids[: context - CHILD])
    node = backend.tokenizer.decode(ids)
    print(
        f" {name}: {len(ids)}-token context = ancestors ({context - CHILD} tokens, processed before) "
        f"+ a new {CHILD}-token node; n={N} branches",
        flush=True,
    )
    slots = backend._prefix_slots
    first_token(backend, parent[:300], 0)  # warm-up
    reps = 2 if quick else 3
    cold_t, warm_t, same_t = [], [], []
    cold_out = warm_out = same_out = None
    for rep in range(reps):
        backend._prefixes.clear()
        backend._prefix_slots = 0
        t, cold_out = first_token(backend, node, seed=5)
        cold_t.append(t)
        backend._prefix_slots = slots
        first_token(backend, parent, seed=rep)  # the ancestors were generated from earlier
        t, warm_out = first_token(backend, node, seed=5)
        warm_t.append(t)
        t, same_out = first_token(backend, node, seed=5)  # more branches from the same node
        same_t.append(t)
    cold, warm, again = min(cold_t), min(warm_t), min(same_t)
    ok1, d1 = compare(warm_out, cold_out)
    ok2, d2 = compare(same_out, cold_out)
    figs = []
    for what, value, ok, d in (
        ("from a child of processed ancestors", warm, ok1, d1),
        ("again from the same node", again, ok2, d2),
    ):
        fig = Figure(
            "2 prefix reuse",
            f"[{name}] time to first token {what}",
            value,
            "s",
            "cold prefill",
            cold,
            ">= 5x, same output",
            ok and cold / value >= 5,
            f"same tokens as the cold run for the same seed: {'yes' if ok else 'NO'} "
            f"({N} branches x {TOKENS} tokens; largest logprob difference {d:.1e})",
        )
        show(fig)
        figs.append(fig)
    return figs


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from . import models as m

    figs = []
    figs += bench_model(m.open_local("demo"), 480, quick)
    larger = m.gpt2()
    if larger is None:
        print(
            " GPT-2 is not in the local Hugging Face cache (loom never downloads models): "
            "the 1,000-token context runs on the GPT-2-small-shaped stand-in.",
            flush=True,
        )
        larger = m.standin()
    figs += bench_model(larger, 1000, quick)
    for ref in models or []:
        extra = m.open_local(ref)
        if extra is not None and extra.context >= 1000 + TOKENS:
            figs += bench_model(extra, 1000, quick)
    return figs
