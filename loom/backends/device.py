"""Where a local model runs and in which precision.

`auto` picks CUDA when torch sees a GPU, else Apple's MPS, else the CPU; a
setting names one instead (`cpu`, `cuda`, `cuda:1`, `mps`). The precision is
float32 on the CPU (loom's logprobs there are the model's own to the last
bit); on a GPU half precision where the model allows it: the half type the
weights were saved in, else bfloat16 where the GPU has it (float32's range,
so nothing overflows that did not before), else float32. Both are recorded in
the model's identity with every node, since they change the numbers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..config import check_device, check_dtype
from .base import BackendError

if TYPE_CHECKING:
    import torch

ENV_DEVICE = "LOOM_DEVICE"
ENV_DTYPE = "LOOM_DTYPE"


def requested(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """The device and dtype asked for: the argument, then $LOOM_DEVICE / $LOOM_DTYPE
    (the CLI's --device sets it), then the config file, then auto."""
    if device is None or dtype is None:
        from ..config import load_config

        config = load_config()
        device = device or os.environ.get(ENV_DEVICE) or config.device
        dtype = dtype or os.environ.get(ENV_DTYPE) or config.dtype
    return check_device(device), check_dtype(dtype)


def choose_device(asked: str) -> str:
    """The torch device for a request; BackendError when the one named is not here."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if asked == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if asked.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendError(f"device {asked!r}: torch {torch.__version__} sees no CUDA GPU on this machine")
        index = int(asked.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise BackendError(f"device {asked!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if asked == "mps" and not has_mps:
        raise BackendError("device 'mps': torch sees no Apple MPS device on this machine")
    return asked


def choose_dtype(device: str, asked: str, saved: Any) -> torch.dtype:
    """The precision to load a model in on `device`; `saved` is the dtype its config names."""
    import torch

    if asked != "auto":
        chosen: torch.dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[asked]
        return chosen
    if device == "cpu":
        return torch.float32
    stored = _as_dtype(saved)
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    if stored is not None and (stored == torch.float16 or (stored == torch.bfloat16 and bf16)):
        return stored
    if bf16:
        return torch.bfloat16
    return torch.float32


def _as_dtype(value: Any) -> torch.dtype | None:
    import torch

    if isinstance(value, torch.dtype):
        return value
    if isinstance(value, str):
        found = getattr(torch, value.removeprefix("torch."), None)
        return found if isinstance(found, torch.dtype) else None
    return None


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
