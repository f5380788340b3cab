"""The core never imports textual (checked in a fresh interpreter)."""

import subprocess
import sys

CORE = [
    "loom.tree",
    "loom.store",
    "loom.backends",
    "loom.backends.local",
    "loom.backends.openai_compat",
    "loom.experiments.generate",
    "loom.experiments.replay",
    "loom.themes",
    "loom.textsafe",
    "loom.config",
    "loom.cli",
    "loom.io",
    "loom.analysis.align",
    "loom.analysis.report",
    "loom.analysis.perturb",
    "loom.analysis.multiverse",
    "loom.analysis.candidates",
    "loom.experiments.vs",
    "loom.render.svg",
    "loom.render.html",
    "loom.render.ansi",
    "loom.experiments.edit",
]


def test_core_does_not_import_textual():
    code = "import sys\n" + "".join(f"import {m}\n" for m in CORE) + "print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_help_does_not_import_torch():
    code = "import sys\nfrom loom.cli import build_parser\nbuild_parser()\nprint('torch' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_every_key_is_bound_once():
    from collections import Counter

    from loom.ui.app import ALL_KEYS

    counts = Counter(k for key in ALL_KEYS for k in key.keys.split(","))
    assert [k for k, n in counts.items() if n > 1] == []
    assert len({k.action for k in ALL_KEYS}) == len(ALL_KEYS)
