"""The models the model benchmarks run on: the bundled demo, GPT-2 when it is
in the local Hugging Face cache, any --model given, and a GPT-2-small-shaped
stand-in with random weights (1,024 positions) so that a 1,000-token context
fits even where no larger model is cached. Random weights cost the same time
per token as trained ones; only the text is meaningless."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

GPT2_IDS = ("gpt2", "openai-community/gpt2")
_tmp: tempfile.TemporaryDirectory | None = None


def open_local(ref: str, **kwargs):
    """The model on the device loom chooses (a GPU where there is one; --device or $LOOM_DEVICE names another)."""
    from loom.backends.base import BackendError
    from loom.backends.local import LocalBackend

    try:
        return LocalBackend(ref, **kwargs)
    except BackendError:
        return None


def gpt2(**kwargs):
    for ref in GPT2_IDS:
        backend = open_local(ref, **kwargs)
        if backend is not None:
            return backend
    return None


def standin_path() -> Path:
    """A GPT-2-small-shaped model (12 layers, 768 wide, 1,024 positions) with
    random weights and the demo tokenizer, written once per run to a temp folder."""
    global _tmp
    if _tmp is None:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel

        from loom.backends.local import BUNDLED

        _tmp = tempfile.TemporaryDirectory(prefix="loom-bench-")
        torch.manual_seed(0)
        config = GPT2Config(
            n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=4096, bos_token_id=0, eos_token_id=0
        )
        model = GPT2LMHeadModel(config).eval()
        model.save_pretrained(_tmp.name)
        for f in BUNDLED["demo"].glob("tokenizer*.json"):
            shutil.copy(f, _tmp.name)
    return Path(_tmp.name)


def standin(**kwargs):
    return open_local(str(standin_path()), **kwargs)


def label(backend) -> str:
    where = f"{backend.device}, {str(backend.model.dtype).removeprefix('torch.')}"
    if Path(backend.name).parent == Path(tempfile.gettempdir()) or "loom-bench-" in backend.name:
        return f"GPT-2-small-shaped stand-in (random weights, 12x768, 1024 positions; {where})"
    params = sum(p.numel() for p in backend.model.parameters()) / 1e6
    return f"{backend.name} ({params:.0f}M params, {backend.context} positions; {where})"


def prompt_ids(backend, length: int) -> list[int]:
    """Token ids of a prompt of exactly `length` tokens that survives a decode/encode round trip."""
    text = (
        "The old lighthouse keeper climbed the stairs each evening, counting the steps and the ships, "
        "and wrote down what the sea had said that day. "
    ) * 200
    ids = backend.encode(text)[:length]
    for _ in range(5):
        again = backend.encode(backend.tokenizer.decode(ids))
        if again == ids:
            return ids
        ids = again[:length]
    return ids
