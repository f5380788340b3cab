"""Target 8: a report through an OpenAI-compatible server. 10,000 samples (10
temperatures x 1,000, 32 tokens, top-5 alternatives) drawn the way `loom report`
draws them (every temperature at once, n split into requests of 16, 16 in
flight, samples kept in the report's record), against the `openai` package's
AsyncOpenAI client in its own asyncio loop asking for the same requests with
the same number in flight, against the same loopback server, which answers at
once from canned replies and runs in its own process (tests/fake_openai_server.py
--instant), so that each side's process time is the client's alone.

Each side runs in a fresh process of its own (so that its peak memory is its
own); the runs take turns and the best of them counts. Printed: the time side
by side, loom's CPU per sample, the peak memory at 1,000 and at 10,000 samples,
loom with the samples kept as nodes (committed in batches), and a profile with
two base URLs sharing the work. The report's grouping and measures (clusters,
diversity) are timed apart at 1,000 samples: they do not depend on the server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .io import peak_mb  # VmHWM: a child's own peak, not its parent's
from .report import Figure, show

SERVER = Path(__file__).resolve().parents[1] / "tests" / "fake_openai_server.py"
TEMPERATURES = [round(0.5 + 0.1 * i, 1) for i in range(10)]
TOKENS, TOP, IN_FLIGHT, CHUNK = 32, 5, 16, 16
PROMPT = "Once upon a time"


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--instant", "--while-stdin"],  # ends with the bench, however it ends
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


# -- the two sides, each run in a child process ------------------------------------------


def loom_side(urls: list[str], n: int, keep: str) -> dict:
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile
    from loom.experiments.replay import sample_continuations
    from loom.store import Session
    from loom.tree import GenerationParams

    profile = Profile(name="bench", model="demo", base_url=urls if len(urls) > 1 else urls[0])
    profile.concurrency, profile.max_n, profile.max_retries = IN_FLIGHT, CHUNK, 0
    backend = OpenAIBackend(profile)
    with tempfile.TemporaryDirectory() as tmp, Session(Path(tmp) / "bench.loom") as session:
        root = session.add_node(None, PROMPT, "prompt")
        params = GenerationParams(n=n // len(TEMPERATURES), max_tokens=TOKENS, logprobs=TOP)
        wall, cpu = time.perf_counter(), time.process_time()
        samples, _notes = sample_continuations(session, backend, root.id, params, temperatures=TEMPERATURES, keep=keep)
        # what `loom report` keeps: the samples in the report's record
        session.add_record("report", root.id, {"bench": True}, {"samples": [s.to_dict() for s in samples]})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        nodes = session.count() - 1
    return {
        "wall": wall,
        "cpu": cpu,
        "samples": len(samples),
        "nodes": nodes,
        "peak_mb": peak_mb(),
        "sent": backend.requests_sent(),
    }


def client_side(urls: list[str], n: int) -> dict:
    """The `openai` client's own loop: the same requests, 16 in flight, each sample's text and logprobs kept."""
    import openai

    async def main() -> list[tuple[str, list[float]]]:
        client = openai.AsyncOpenAI(base_url=urls[0], api_key="no-key", max_retries=0)
        room = asyncio.Semaphore(IN_FLIGHT)
        each = n // len(TEMPERATURES)

        async def one(t: float, size: int) -> list[tuple[str, list[float]]]:
            async with room:
                reply = await client.completions.create(
                    model="demo", prompt=PROMPT, n=size, max_tokens=TOKENS, logprobs=TOP, temperature=t
                )
            return [(c.text, list(c.logprobs.token_logprobs or []) if c.logprobs else []) for c in reply.choices]

        jobs = [one(t, min(CHUNK, each - s)) for t in TEMPERATURES for s in range(0, each, CHUNK)]
        out = [s for part in await asyncio.gather(*jobs) for s in part]
        await client.close()
        return out

    wall, cpu = time.perf_counter(), time.process_time()
    samples = asyncio.run(main())
    json.dumps([{"text": t, "logprobs": lp} for t, lp in samples])  # kept as a record would be
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "samples": len(samples),
        "peak_mb": peak_mb(),
    }


def child(side: str, urls: list[str], n: int, keep: str = "record") -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.serve", "--side", side, "--n", str(n), "--keep", keep, *urls],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=Path(__file__).resolve().parents[1],
    )
    if out.returncode:  # say why: a run that failed must not pass for a figure
        raise SystemExit(f"bench.serve --side {side} --n {n} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def analysis_seconds(n: int) -> float:
    """The report's grouping and measures on n samples (nothing to do with the server)."""
    import random

    from loom.analysis.report import Sample, build_report

    sys.path.insert(0, str(SERVER.parent))
    from fake_openai_server import WORDS

    rng = random.Random(0)
    samples = [
        Sample("".join(rng.choice(WORDS) for _ in range(TOKENS)), [-0.5] * TOKENS, TEMPERATURES[i % 10], None, None)
        for i in range(n)
    ]
    start = time.perf_counter()
    build_report(samples)
    return time.perf_counter() - start


def walls(runs: list[dict]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in runs)


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    big, small = (2_000, 500) if quick else (10_000, 1_000)
    runs = 1 if quick else 3
    server, url = start_server()
    second, url2 = start_server()
    try:
        child("loom", [url], small)  # warm the disk cache and the server's canned replies
        loom_big, client_big = [], []
        for _ in range(runs):  # in turns, so that load from other jobs affects both alike
            loom_big.append(child("loom", [url], big))
            client_big.append(child("client", [url], big))
        loom_small = child("loom", [url], small)
        client_small = child("client", [url], small)
        nodes = child("loom", [url], big, keep="nodes")
        shared = child("loom", [url, url2], small)
    finally:
        for proc in (server, second):
            proc.kill()
            proc.wait()
    best = min(loom_big, key=lambda r: r["wall"])
    base = min(client_big, key=lambda r: r["wall"])
    cpu = min(r["cpu"] for r in loom_big) / big
    base_cpu = min(r["cpu"] for r in client_big) / big
    grow = best["peak_mb"] - loom_small["peak_mb"]
    base_grow = base["peak_mb"] - client_small["peak_mb"]
    figs = [
        Figure(
            "8 serve",
            f"{big:,} samples through loom (10 temperatures at once, {IN_FLIGHT} in flight, n in requests of {CHUNK})",
            best["wall"],
            "s",
            f"AsyncOpenAI loop, {IN_FLIGHT} in flight",
            base["wall"],
            ">= 1.0x",
            base["wall"] / best["wall"] >= 1.0,
            f"runs: loom {walls(loom_big)} s; client {walls(client_big)} s",
        ),
        Figure(
            "8 serve",
            "loom's CPU per sample (its process; the server runs in another)",
            cpu,
            "s",
            "the client's own",
            base_cpu,
            "<= 1 ms",
            cpu <= 1e-3,
        ),
        Figure(
            "8 serve",
            f"loom's peak memory at {small:,} / {big:,} samples",
            best["peak_mb"],
            "MB",
            f"at {small:,}",
            loom_small["peak_mb"],
            note=(
                f"+{grow:.0f} MB for {big - small:,} more samples ({grow / (big - small) * 1e3:.2f} MB per 1,000: "
                f"their texts and logprobs, which the report keeps); the client's loop: "
                f"{client_small['peak_mb']:.0f} / {base['peak_mb']:.0f} MB (+{base_grow:.0f})"
            ),
        ),
        Figure(
            "8 serve",
            f"{big:,} samples kept as nodes (committed in batches)",
            nodes["wall"],
            "s",
            note=f"{nodes['nodes']:,} nodes; loom's CPU {nodes['cpu'] / big * 1e3:.2f} ms per sample, "
            f"peak {nodes['peak_mb']:.0f} MB",
        ),
        Figure(
            "8 serve",
            f"two base URLs, {small:,} samples: requests per server",
            shared["wall"],
            "s",
            note=f"requests sent to each: {shared['sent']}",
        ),
    ]
    few, more = (100, 200) if quick else (250, 500)
    figs.append(
        Figure(
            "8 serve",
            f"the report's grouping and measures on {more} samples (apart: no server involved)",
            analysis_seconds(more),
            "s",
            f"on {few}",
            analysis_seconds(few),
            note="each distinct ending clustered once (nearest-neighbour chain), the Vendi bootstrap from the "
            "endings' vectors; 250 to 10,000 samples against the old code: python -m bench.analysis; not part "
            "of the figures above",
        )
    )
    for fig in figs:
        show(fig)
    return figs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", choices=("loom", "client"), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--keep", default="record")
    ap.add_argument("urls", nargs="+")
    args = ap.parse_args()
    result = loom_side(args.urls, args.n, args.keep) if args.side == "loom" else client_side(args.urls, args.n)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
