"""Key/value caches of the local backend: the prompt caches kept between
generations (forked, cut back, measured) and the cache the n branches of one
generation grow together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import torch

#: a model's key/value cache: a transformers Cache object (its layers read through getattr,
#: as their kinds differ between versions), or a tuple of tensors in older versions
KVCache: TypeAlias = Any


def branch_cache(cache: KVCache, n: int, length: int, shared: bool = False) -> KVCache | None:
    """The prompt's cache (batch 1) for n branches that will hold `length` positions
    in all. The branches' tokens go into buffers allocated once, which each step
    writes in place (a dynamic cache concatenates its whole length on every step),
    and attention reads only the filled part (no mask over empty slots, as a
    static cache needs). With `shared` the prompt is not copied at all: its one
    copy rides on the keys for attention.shared_prompt_attention to read once for
    all branches; otherwise it is copied into each branch's buffer. None where
    the model's cache is not made of dynamic layers: the caller then repeats it."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return None
    layers = getattr(cache, "layers", None)
    if type(cache) is not DynamicCache or not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    import copy

    grown = copy.copy(cache)
    grown.layers = [_growing_class()(layer.keys, layer.values, n, length, shared) for layer in layers]
    return grown


_growing: type | None = None


def _growing_class() -> type:
    """GrowingLayer, made once on first use (transformers is imported only when a model is)."""
    global _growing
    if _growing is None:
        from transformers.cache_utils import DynamicLayer

        from .attention import PREFIX

        class GrowingLayer(DynamicLayer):  # type: ignore[misc, no-untyped-call, unused-ignore]  # untyped in transformers
            """A dynamic layer whose keys and values are views of buffers allocated once,
            after the prompt's (copied in, or shared: see branch_cache)."""

            def __init__(self, keys: torch.Tensor, values: torch.Tensor, n: int, length: int, shared: bool) -> None:
                super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
                self._prompt = (keys, values) if shared else None
                self._start = keys.shape[-2] if shared else 0  # positions before the buffers
                self._k = keys.new_empty((n, keys.shape[1], length - self._start, keys.shape[3]))
                self._v = values.new_empty((n, values.shape[1], length - self._start, values.shape[3]))
                self._n = 0
                if not shared:
                    self._n = keys.shape[-2]
                    self._k[:, :, : self._n] = keys  # broadcast from the prompt's one row
                    self._v[:, :, : self._n] = values
                self.keys, self.values = self._k[:, :, : self._n], self._v[:, :, : self._n]
                self.device, self.is_initialized = keys.device, True

            def update(
                self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
            ) -> tuple[torch.Tensor, torch.Tensor]:
                end = self._n + key_states.shape[-2]
                self._k[:, :, self._n : end] = key_states
                self._v[:, :, self._n : end] = value_states
                self._n = end
                self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
                if self._prompt is not None:
                    setattr(self.keys, PREFIX, self._prompt)
                return self.keys, self.values

            def get_seq_length(self) -> int:
                return self._start + self._n

        _growing = GrowingLayer
    return _growing


def shared_len(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """How many tokens two prompts share at their start."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    i = 0
    while a[i] == b[i]:
        i += 1
    return i


def croppable(cache: KVCache) -> bool:
    layers = getattr(cache, "layers", None)
    if not layers:
        return False
    return all(getattr(layer, "is_croppable", False) for layer in layers)


def cache_bytes(cache: KVCache) -> int:
    total = 0
    for layer in getattr(cache, "layers", ()):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            total += t.nelement() * t.element_size() if t is not None and hasattr(t, "nelement") else 0
    return total


def fork(cache: KVCache) -> KVCache:
    """A copy of a key/value cache that can grow on its own. Growing a dynamic
    cache layer replaces its tensors (never writes into them), so the copy
    shares the tensors; any other kind of cache is copied whole."""
    import copy

    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # an older transformers without cache layers
        return copy.deepcopy(cache)
    layers = getattr(cache, "layers", None)
    if type(cache) is DynamicCache and layers and all(type(layer) is DynamicLayer for layer in layers):
        twin = copy.copy(cache)
        twin.layers = [copy.copy(layer) for layer in layers]
        return twin
    return copy.deepcopy(cache)
