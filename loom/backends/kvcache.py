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
                self._n = self._own = 0  # filled; where the branches' own tokens start in the buffers
                if not shared:
                    self._n = self._own = keys.shape[-2]
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


class Branches:
    """The key/values the branches of the last generation computed for their own
    tokens, kept beside their prompt's entry in the prefix cache: generating next
    from one of the new nodes then runs only the tokens not yet in it (its last
    one), not all of them again. Views of the generation's buffers: nothing is copied."""

    def __init__(self, prompt: tuple[int, ...], cache: KVCache, tokens: list[list[int]]):
        """`cache` as branch_cache made it, after the generation; `tokens` each branch's ids, in order."""
        self.prompt = prompt
        layers = cache.layers
        self.tokens = [list(t) for t in tokens]
        # per layer: the branches' keys and values after the prompt, (n, heads, filled, dim)
        self.layers = [
            (layer._k[:, :, layer._own : layer._n], layer._v[:, :, layer._own : layer._n]) for layer in layers
        ]
        self.filled = self.layers[0][0].shape[-2] if self.layers else 0
        self.bytes = sum(k.nelement() * k.element_size() * 2 for k, _ in self.layers)

    def longest(self, ids: tuple[int, ...]) -> tuple[int, int]:
        """The branch whose tokens (those with key/values) go furthest into `ids` after the prompt,
        and how many of them; (-1, 0) where `ids` does not start with the prompt."""
        p = len(self.prompt)
        if len(ids) <= p or ids[:p] != self.prompt:
            return -1, 0
        best, most = -1, 0
        for b, toks in enumerate(self.tokens):
            m = shared_len(tuple(toks[: self.filled]), ids[p:])
            if m > most:
                best, most = b, m
        return best, most

    def join(self, prompt_cache: KVCache, row: int, count: int) -> KVCache:
        """A new cache (batch 1): the prompt's, then the first `count` tokens of branch `row`."""
        import copy

        import torch

        joined = copy.copy(prompt_cache)
        joined.layers = []
        for layer, (k, v) in zip(prompt_cache.layers, self.layers):
            twin = copy.copy(layer)
            twin.keys = torch.cat([layer.keys, k[row : row + 1, :, :count]], dim=-2)
            twin.values = torch.cat([layer.values, v[row : row + 1, :, :count]], dim=-2)
            joined.layers.append(twin)
        return joined
