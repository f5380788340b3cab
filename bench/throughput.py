"""Target 1: n = 8 branches of 64 tokens with logprobs and top-10 alternatives
through loom's local backend, against (a) 8 sequential `model.generate` calls
and (b) one `model.generate(num_return_sequences=8)` on the same model and
prompt. Throughput is generated tokens per second (the baselines are forced to
64 tokens each with min_new_tokens; a loom branch may end earlier at EOS, which
only lowers loom's figure)."""

from __future__ import annotations

from loom.tree import GenerationParams, TokenEvent

from . import models
from .report import Figure, Timer, show

N, TOKENS, PROMPT = 8, 64, 512


def loom_run(backend, prompt: str, n: int, tokens: int, seed: int) -> tuple[float, int]:
    params = GenerationParams(n=n, max_tokens=tokens, temperature=1.0, seed=seed, logprobs=10)
    count = 0
    with Timer() as t:
        for ev in backend.generate(prompt, params):
            count += isinstance(ev, TokenEvent)
    return t.seconds, count


def hf_run(backend, ids: list[int], n: int, tokens: int, together: bool) -> tuple[float, int]:
    import torch

    model = backend.model
    x = torch.tensor([ids])
    kw = dict(
        do_sample=True,
        max_new_tokens=tokens,
        min_new_tokens=tokens,
        top_k=0,
        top_p=1.0,
        temperature=1.0,
        pad_token_id=backend.tokenizer.eos_token_id,
        output_scores=True,
        return_dict_in_generate=True,
    )
    count = 0
    with torch.inference_mode(), Timer() as t:
        if together:
            out = model.generate(x, num_return_sequences=n, **kw)
            count = (out.sequences.shape[1] - len(ids)) * n
        else:
            for _ in range(n):
                out = model.generate(x, **kw)
                count += out.sequences.shape[1] - len(ids)
    return t.seconds, count


def bench_model(backend, quick: bool) -> list[Figure]:
    name = models.label(backend)
    tokens = 16 if quick else TOKENS
    length = min(PROMPT, backend.context - tokens)
    ids = models.prompt_ids(backend, length)
    prompt = backend.tokenizer.decode(ids)
    assert backend.encode(prompt) == ids
    print(
        f" {name}: n={N} x {tokens} tokens from a {len(ids)}-token prompt"
        + ("" if len(ids) == PROMPT else f" (the model has {backend.context} positions, so not {PROMPT})"),
        flush=True,
    )
    backend._prefixes.clear()
    loom_run(backend, prompt[:200], 2, 2, seed=0)  # warm-up: first-call costs out of the way
    hf_run(backend, ids[:50], 1, 2, together=False)
    reps = 1 if quick else 2
    best = {}
    for _ in range(reps):  # interleaved, best of reps: load from other processes hits all three alike
        backend._prefixes.clear()  # a cold prompt: loom gets no head start from its prefix cache
        for key, fn in (
            ("loom", lambda: loom_run(backend, prompt, N, tokens, seed=1)),
            ("seq", lambda: hf_run(backend, ids, N, tokens, together=False)),
            ("nrs", lambda: hf_run(backend, ids, N, tokens, together=True)),
        ):
            secs, count = fn()
            rate = count / secs
            if rate > best.get(key, (0, 0, 0))[0]:
                best[key] = (rate, secs, count)
    loom_rate = best["loom"][0]
    figs = []
    for key, what, goal, need in (
        ("seq", "8 sequential model.generate calls", ">= 4x", 4.0),
        ("nrs", "one model.generate(num_return_sequences=8)", ">= 1.0x", 1.0),
    ):
        rate = best[key][0]
        # throughput: higher is better, so the ratio is loom / baseline
        fig = Figure(
            "1 throughput",
            f"[{name}] loom n=8 vs {what}",
            1 / loom_rate,
            "s/tok",
            what,
            1 / rate,
            goal,
            (rate and loom_rate / rate >= need),
            f"loom {loom_rate:.0f} tok/s ({best['loom'][2]} tokens in {best['loom'][1]:.2f} s), "
            f"baseline {rate:.0f} tok/s ({best[key][2]} tokens in {best[key][1]:.2f} s)",
        )
        show(fig)
        figs.append(fig)
    return figs


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from . import models as m

    figs = []
    demo = m.open_local("demo")
    figs += bench_model(demo, quick)
    larger = m.gpt2()
    if larger is None:
        print(" GPT-2 is not in the local Hugging Face cache: skipped (loom never downloads models).", flush=True)
        if not quick:
            print(" Using the GPT-2-small-shaped stand-in instead.", flush=True)
            larger = m.standin()
    if larger is not None:
        figs += bench_model(larger, quick)
    for ref in models or []:
        extra = m.open_local(ref)
        if extra is None:
            print(f" --model {ref}: not found locally, skipped", flush=True)
            continue
        figs += bench_model(extra, quick)
    return figs
