"""Convert a bundled demo model (GPT-2 shaped, its own small BPE tokenizer) to
GGUF with llama.cpp's converter, for recording a real llama.cpp-based server.

Run with the converter's folder (vendor/llama.cpp in llama-cpp-python's sdist)
and a Python that has its gguf-py, torch and transformers:

    python tools/demo_to_gguf.py VENDOR/llama.cpp loom/models/demo-base demo.gguf

The converter knows tokenizers by a hash of how they split a test string; the
demo's is not among them, so it is told "gpt-2" (the demo tokenizer is a
byte-level BPE with GPT-2's pre-tokenizer). A GPT-2 config has no `n_ctx`,
which the converter wants: it gets `n_positions`. See docs/how-to/servers.md."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path


def main() -> None:
    converter, model, out = (Path(a).resolve() for a in sys.argv[1:4])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / model.name
        shutil.copytree(model, folder)
        config = json.loads((folder / "config.json").read_text())
        config.setdefault("n_ctx", config.get("n_positions", 512))
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        sys.path.insert(0, str(converter))
        sys.path.insert(1, str(converter / "gguf-py"))
        import conversion.base as base  # the converter's own modules

        known = base.TextModel.get_vocab_base_pre

        def pre(self, tokenizer) -> str:
            try:
                return known(self, tokenizer)
            except NotImplementedError:
                return "gpt-2"

        base.TextModel.get_vocab_base_pre = pre
        sys.argv = ["convert_hf_to_gguf.py", str(folder), "--outfile", str(out), "--outtype", "f32"]
        import runpy

        runpy.run_path(str(converter / "convert_hf_to_gguf.py"), run_name="__main__")


if __name__ == "__main__":
    main()
