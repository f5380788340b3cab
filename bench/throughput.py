"""Target 1: branching. n = 8 branches of 64 tokens with logprobs and top-10
alternatives through loom's local backend, against (a) 8 sequential
`model.generate` calls and (b) one `model.generate(num_return_sequences=8)`,
on the same model, prompt and device, at prompts of 16, 256 and 448 tokens
(targets: at least 4x (a) and 1.5x (b) at every length). Throughput is
generated tokens per second; the baselines are forced to 64 tokens each with
min_new_tokens and keep their scores (output_scores, as loom keeps logprobs);
a loom branch may end earlier at EOS, which only lowers loom's figure. The
runs of loom and its baselines take turns, best of 2-3, so that load from
other jobs on a shared machine hits all three alike."""

from __future__ import annotations

from loom.tree import GenerationParams, TokenEvent

from . import models
from .report import Figure, Timer, show

N, TOKENS, ALTERNATIVES = 8, 64, 10
PROMPTS = (16, 256, 448)
GOALS = {"seq": 4.0, "nrs": 1.5}


def loom_run(backend, prompt, n: int, tokens: int, seed: int) -> tuple[float, int]:
    params = GenerationParams(n=n, max_tokens=tokens, temperature=1.0, seed=seed, logprobs=ALTERNATIVES)
    count = 0
    with Timer() as t:
        for ev in backend.generate(prompt, params):
            count += isinstance(ev, TokenEvent)
        _sync(backend)
    return t.seconds, count


def hf_run(backend, ids: list[int], n: int, tokens: int, together: bool) -> tuple[float, int]:
    import torch

    model = backend.model
    x = torch.tensor([ids], device=backend.device)
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
        _sync(backend)
    return t.seconds, count


def _sync(backend) -> None:
    import torch

    if str(backend.device).startswith("cuda"):
        torch.cuda.synchronize()


def context_prompt(backend, ids: list[int]):
    """The prompt as a loom context: the ids themselves (as a node the model wrote), so that
    loom and the baselines see exactly the same tokens."""
    from loom.tree import Context, Segment

    return Context((Segment(backend.tokenizer.decode(ids), tuple(ids), backend.name),))


def bench_model(backend, quick: bool) -> list[Figure]:
    name = models.label(backend)
    tokens = 16 if quick else TOKENS
    lengths = [p for p in PROMPTS if p + tokens <= backend.context]
    print(
        f" {name}: n={N} x {tokens} tokens, {ALTERNATIVES} alternatives a token, prompts of "
        f"{', '.join(map(str, lengths))} tokens",
        flush=True,
    )
    loom_run(backend, context_prompt(backend, models.prompt_ids(backend, 40)), 2, 2, seed=0)  # warm-up
    hf_run(backend, models.prompt_ids(backend, 40), 1, 2, together=False)
    reps = 2 if quick else 3
    rows = []
    figs = []
    for length in lengths:
        ids = models.prompt_ids(backend, length)
        prompt = context_prompt(backend, ids)
        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(reps):  # interleaved, best of reps
            backend._prefixes.clear()  # a cold prompt: loom gets no head start from its prefix cache
            for key, fn in (
                ("loom", lambda prompt=prompt: loom_run(backend, prompt, N, tokens, seed=1)),
                ("seq", lambda ids=ids: hf_run(backend, ids, N, tokens, together=False)),
                ("nrs", lambda ids=ids: hf_run(backend, ids, N, tokens, together=True)),
            ):
                secs, count = fn()
                if count / secs > best.get(key, (0.0, 0.0, 0))[0]:
                    best[key] = (count / secs, secs, count)
        loom_rate = best["loom"][0]
        rows.append((length, loom_rate, best["seq"][0], best["nrs"][0]))
        for key, what in (
            ("seq", f"{N} sequential model.generate calls"),
            ("nrs", f"one model.generate(num_return_sequences={N})"),
        ):
            rate = best[key][0]
            fig = Figure(
                "1 throughput",
                f"[{name}] {length}-token prompt: loom n={N} vs {what}",
                1 / loom_rate,  # seconds a token: the ratio is then loom's speed-up
                "s/tok",
                what,
                1 / rate,
                f">= {GOALS[key]:g}x",
                loom_rate / rate >= GOALS[key],
                f"loom {loom_rate:.0f} tok/s ({best['loom'][2]} tokens in {best['loom'][1]:.2f} s), "
                f"baseline {rate:.0f} tok/s ({best[key][2]} tokens in {best[key][1]:.2f} s)",
            )
            show(fig)
            figs.append(fig)
    print(f"\n  {name}, tokens a second (n={N} x {tokens}, {ALTERNATIVES} alternatives; targets >= 4x and >= 1.5x):")
    print(f"  {'prompt':>8} {'loom':>8} {'8 sequential':>14} {'ratio':>7} {'n_r_s=8':>9} {'ratio':>7}")
    for length, lr, sr, nr in rows:
        print(f"  {length:>8} {lr:>8.0f} {sr:>14.0f} {lr / sr:>6.2f}x {nr:>9.0f} {lr / nr:>6.2f}x")
    return figs


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from . import models as m

    figs = []
    figs += bench_model(m.open_local("demo"), quick)
    if not quick:
        larger = m.gpt2()
        if larger is None:
            print(
                " GPT-2 is not in the local Hugging Face cache (loom never downloads models): "
                "the GPT-2-small-shaped stand-in instead.",
                flush=True,
            )
            larger = m.standin()
        figs += bench_model(larger, quick)
    for ref in models or []:
        extra = m.open_local(ref)
        if extra is None:
            print(f" --model {ref}: not found locally, skipped", flush=True)
            continue
        figs += bench_model(extra, quick)
    return figs
