"""`python -m bench [--quick] [--only NAME ...]`: every benchmark, side by side with its baseline.
The figures go to bench/results.json (replacing those of the benchmarks run) and the
performance page's table is made again from it (bench/results.py); --quick runs write nothing."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from datetime import UTC, datetime

from . import results
from .report import Figure

TARGETS = {
    "throughput": "1. Branching throughput (local backend)",
    "prefix": "2. Prefix reuse",
    "storage": "3. Storage",
    "ui": "4. Huge sessions in the UI",
    "startup": "5. Start-up",
    "io": "6. Import and export",
    "keys": "7. Every move key, key to refresh, on a huge tree",
    "serve": "8. A report through an OpenAI-compatible server (loopback, answering at once)",
    "analysis": "9. The report's grouping and measures at 250, 1,000 and 10,000 samples",
}


def machine() -> str:
    import torch

    cores = os.cpu_count()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f", {mem:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        mem_s = ""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()} {cores} CPU cores{mem_s}, {gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: seconds per target, figures noisier")
    ap.add_argument("--only", nargs="+", choices=list(TARGETS), help="run only these targets")
    ap.add_argument(
        "--model",
        action="append",
        default=[],
        help="another local model (folder or cached Hugging Face id) for targets 1 and 2; repeatable",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: steadier on a shared, loaded machine; 0 keeps torch's default)",
    )
    ap.add_argument("--no-save", action="store_true", help="print only: leave bench/results.json and the page alone")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"loom benchmarks{' (quick)' if args.quick else ''} on {machine()}", flush=True)
    ran: dict[str, list[Figure]] = {}
    t0 = time.perf_counter()
    for name in args.only or TARGETS:
        print(f"\n{TARGETS[name]}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        ran[name] = module.run(quick=args.quick, models=args.model)
    figures = [f for figs in ran.values() for f in figs]
    if not (args.quick or args.no_save):
        command = "python -m bench" + (f" --only {' '.join(args.only)}" if args.only else "")
        command += "".join(f" --model {m}" for m in args.model)
        date = datetime.now(UTC).isoformat(timespec="seconds")
        kept = results.merge(results.load(), ran, TARGETS, command=command, date=date, machine=machine())
        results.save(kept)
        results.write_page(kept)
        print(f"\nwrote {results.RESULTS} and the table in {results.PAGE}", flush=True)
    print(f"\nSummary ({time.perf_counter() - t0:.0f} s)")
    for fig in figures:
        if fig.goal:
            verdict = {True: "met", False: "NOT met", None: "n/a"}[fig.met]
            ratio = f" ({fig.ratio:.2f}x)" if fig.ratio is not None else ""
            print(f"  [{verdict:>7}] {fig.target}: {fig.what}{ratio}, target {fig.goal}")
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
