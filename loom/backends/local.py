"""Local models through transformers + torch: any causal LM from a local folder
or the Hugging Face cache (never downloaded), including the bundled demo models.

Generation runs its own token loop so that it can record, for every token, the
raw log-probability of the chosen token and the top-k alternatives, prefill the
prompt once for all n branches, and seed each branch on its own."""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..tree import Alternative, BranchDone, Context, Distribution, GenerationParams, Notice, Segment, Token, TokenEvent
from .base import Backend, BackendError, ContextTokens, Event, Prompt, StopText, branch_seeds
from .device import choose_device, choose_dtype, dtype_name, requested
from .kvcache import Branches, KVCache, branch_cache, cache_bytes, croppable, fork, shared_len

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
BUNDLED = {"demo": MODELS_DIR / "demo-base", "demo-wedding": MODELS_DIR / "demo-wedding"}


class LocalBackend(Backend):
    def __init__(
        self,
        ref: str = "demo",
        device: str | None = None,
        prefix_cache: int = 4,
        prefix_cache_bytes: int = 1 << 30,
        dtype: str | None = None,
        window_step: int | None = None,
    ):
        """`device` and `dtype` as backends.device reads them (None: $LOOM_DEVICE /
        $LOOM_DTYPE, then the config file, then auto). A context longer than the
        model's window is cut at a multiple of `window_step` tokens (default half
        the window; 1 slides it token by token), so that the children of a deep
        node mostly see the same window start and reuse its cache."""
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(logging.ERROR)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]  # untyped in transformers
        path = BUNDLED.get(ref, Path(ref).expanduser())
        source = str(path) if path.exists() else ref
        self.name = ref if ref in BUNDLED else source
        asked_device, asked_dtype = requested(device, dtype)
        self.device = choose_device(asked_device)
        try:
            self.tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(source, local_files_only=True)
            config = AutoConfig.from_pretrained(source, local_files_only=True)
            saved = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
            self.dtype = choose_dtype(self.device, asked_dtype, saved)
            model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, config=config, dtype=self.dtype)
            # transformers wraps `to` with functools.wraps, which hides the bound self from type checkers
            self.model: PreTrainedModel = model.to(self.device)  # type: ignore[arg-type, unused-ignore]
        except (OSError, ValueError) as exc:
            if path.exists():  # a folder, but not one transformers can load: say why
                raise BackendError(
                    f"model {ref!r}: {path} is not a model folder transformers can load ({str(exc).splitlines()[0]})"
                ) from exc
            # transformers' own message here is about reaching huggingface.co, which loom never does
            raise BackendError(
                f"model {ref!r}: not a bundled model ({', '.join(BUNDLED)}), a profile in the config file "
                "(`loom models` lists them), a local model folder, or a model in the Hugging Face cache "
                "(loom never downloads models)"
            ) from exc
        self.model.eval()  # type: ignore[no-untyped-call, unused-ignore]  # untyped in transformers 5
        import inspect

        # transformers 5.x renamed `past_key_values` to `cache`
        forward_args = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in forward_args else "past_key_values"
        self.context = int(
            getattr(self.model.config, "max_position_embeddings", 0) or getattr(self.model.config, "n_positions", 1024)
        )
        self.window_step = max(1, window_step or self.context // 2)
        self._texts: dict[int, str] = {}
        # a segment's ids (nodes never change, and a deep path has hundreds): by (ids, text)
        self._segments: OrderedDict[tuple[tuple[int, ...] | None, str], list[int]] = OrderedDict()
        self._terminals: dict[tuple[str, ...], torch.Tensor] = {}  # answer-ending token ids, by their start characters
        self._last_context: tuple[Prompt, tuple[list[int], list[int]]] | None = None
        self._identity: dict[str, Any] | None = None
        self._vocabulary: dict[str, Any] | None = None
        self._lock = threading.Lock()  # one forward pass at a time per model
        # recent prompts' key/value caches (batch 1), most recently used last: at most
        # `prefix_cache` of them and `prefix_cache_bytes` of tensors together
        self._prefixes: OrderedDict[tuple[int, ...], tuple[torch.Tensor, KVCache, int]] = (
            OrderedDict()
        )  # logits, cache, bytes
        self._prefix_slots = prefix_cache
        self._prefix_bytes = prefix_cache_bytes
        self._branches: Branches | None = None  # the last generation's own key/values
        self._shared: bool | None = None  # whether the branches read the prompt's cache once (checked on first use)

    # -- helpers -------------------------------------------------------------
    def token_text(self, token_id: int) -> str:
        text = self._texts.get(token_id)
        if text is None:
            text = self._texts[token_id] = self._decode([token_id])
        return text

    def _decode(self, ids: list[int]) -> str:
        # a flat list of ids decodes to one text (a list of lists would give a list of texts)
        return cast(str, self.tokenizer.decode(ids))

    def encode(self, text: str) -> list[int]:
        """The ids of human text; an empty text is the model's start token (else its end-of-text token),
        so that there is always a token to predict from."""
        ids = self._encode_text(text)
        if ids:
            return ids
        start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        if start is None:
            raise BackendError(
                f"model {self.name!r}: its tokenizer has neither a start nor an end-of-text token, "
                "so it cannot continue from an empty context; give it some text to continue"
            )
        return [start]

    def context_ids(self, prompt: Prompt) -> tuple[list[int], list[int]]:
        """The token ids of a context, and the nodes whose ids could not be used.

        A segment this model wrote is its sampled ids exactly; human text (and a
        node another model wrote) is tokenised on its own, where it sits. Where a
        stop string cut the text of a node's last token, the ids whose text is
        still in the node are kept and the rest of its text is tokenised."""
        last = self._last_context
        if last is not None and last[0] is prompt:  # the same (immutable) context asked again
            return last[1]
        ids: list[int] = []
        retokenised: list[int] = []
        for seg in Context.of(prompt).segments:
            ids += self._segment_ids(seg, (self.name,), retokenised)
        result = (ids or self.encode(""), retokenised)
        if isinstance(prompt, Context):
            self._last_context = (prompt, result)
        return result

    def _segment_ids(self, seg: Segment, models: tuple[str, ...], retokenised: list[int]) -> list[int]:
        """One segment's ids: its sampled ids where one of `models` wrote it, else its text tokenised
        (the node then goes into `retokenised`)."""
        own = seg.ids is not None and seg.model in models
        if not own and seg.ids is not None and seg.node is not None:
            retokenised.append(seg.node)
        key = (seg.ids if own else None, seg.text)
        hit = self._segments.get(key)
        if hit is not None:
            self._segments.move_to_end(key)
            return list(hit)
        if own:
            use = list(cast(tuple[int, ...], seg.ids))
            if self._decode(use) != seg.text:
                while use and not seg.text.startswith(self._decode(use)):
                    use.pop()
                rest = seg.text[len(self._decode(use)) :] if use else seg.text
                use += self._encode_text(rest)
        else:
            use = self._encode_text(seg.text)
        self._segments[key] = use
        if len(self._segments) > 8192:
            self._segments.popitem(last=False)
        return list(use)

    def _encode_text(self, text: str) -> list[int]:
        return cast(list[int], self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def identity(self) -> dict[str, Any]:
        """The model's name, the SHA-256 of its weights files (hashed once per load), and the
        device and precision it runs in (a GPU in half precision gives other numbers)."""
        if self._identity is None:
            import hashlib

            folder = Path(getattr(self.model, "name_or_path", "") or "")
            files = (sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))) if folder.is_dir() else []
            digest = hashlib.sha256()
            for f in files:
                with f.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
            self._identity = {
                "name": self.name,
                "weights_sha256": digest.hexdigest() if files else None,
                "device": self.device,
                "dtype": dtype_name(self.dtype),
            }
        return self._identity

    def context_form(self, prompt: Prompt) -> dict[str, Any]:
        return {"form": "ids", "retokenised": self.context_ids(prompt)[1]}

    def context_window(self, prompt: Prompt, room: int) -> dict[str, int]:
        length = len(self.context_ids(prompt)[0])
        return {"start": self._window_start(length, room), "end": length}

    def _step_for(self, room: int) -> int:
        return max(1, min(self.window_step, max(1, self.context - room) // 2))

    def _window_start(self, length: int, room: int) -> int:
        """Where the model's window starts in a context of `length` tokens with `room` to generate:
        0 when it fits, else the first multiple of the window step that leaves room (so the
        start stays put while a path grows, and the prefix cache keeps hitting); by at
        most half the window, so that at least half of it is context."""
        # at least one context token stays, even when `room` asks for the whole window
        limit = max(1, self.context - room)
        if length <= limit:
            return 0
        step = self._step_for(room)
        return -(-(length - limit) // step) * step

    def _trim(self, ids: list[int], room: int) -> tuple[list[int], str | None]:
        start = self._window_start(len(ids), room)
        if not start:
            return ids, None
        return ids[start:], (
            f"the prompt has {len(ids)} tokens; the model's context is {self.context}: "
            f"the first {start} tokens were left out for generation (the window moves in steps of "
            f"{self._step_for(room)} tokens, so that a deeper node reuses "
            "what was computed for its ancestors; the node keeps its full text)"
        )

    def _alternatives(self, logp_row: torch.Tensor, k: int) -> tuple[Alternative, ...]:
        if k <= 0:
            return ()
        vals, idx = logp_row.topk(k)
        return tuple(
            Alternative(self.token_text(int(i)), float(v), int(i)) for v, i in zip(vals.tolist(), idx.tolist())
        )

    def _step(self, x: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """One forward pass: logits at the last position and the grown cache."""
        kw: dict[str, Any] = {self._cache_kw: cache}
        out = self.model(input_ids=x, use_cache=True, logits_to_keep=1, **kw)
        return out.logits[:, -1, :], getattr(out, self._cache_kw)

    def _prefill(self, ids: list[int], private: bool = True) -> tuple[torch.Tensor, KVCache]:
        """Logits after `ids` and their key/value cache (batch 1). With
        `private` the caller may change the cache; without, it must only read
        it (it may be the one kept in the prefix cache).

        Reuses the cached prompt that shares the longest start with `ids`: only
        the rest runs through the model. A cached prompt that goes further than
        `ids` (moving back to a parent) or parts from it (a token boundary that
        changed) is cut back to the shared part first."""
        import torch

        key = tuple(ids)
        best: tuple[int, ...] | None = None
        shared = 0
        for cached in self._prefixes:
            m = shared_len(cached, key)
            if m > shared:
                best, shared = cached, m
        cache = None
        rest = ids
        row, count = self._branches.longest(key) if self._branches is not None else (-1, 0)
        count = min(count, len(key) - 1 - len(self._branches.prompt)) if self._branches is not None else 0
        if count > 0 and self._branches is not None and len(self._branches.prompt) + count > shared:
            prompt = self._prompt_cache(self._branches.prompt)
            if prompt is not None:  # a node the last generation wrote: only its tokens past the kept ones run
                cache = self._branches.join(prompt, row, count)
                best = None
                rest = ids[len(self._branches.prompt) + count :]
        if best is not None:
            entry_logits, entry_cache, _ = self._prefixes[best]
            if shared == len(key) == len(best):
                self._prefixes.move_to_end(best)
                return entry_logits, fork(entry_cache) if private else entry_cache
            use = min(shared, len(key) - 1)  # at least one token must run, for the logits
            if use == len(best) or (use > 0 and croppable(entry_cache)):
                self._prefixes.move_to_end(best)
                cache = fork(entry_cache)
                if use < len(best):
                    cache.crop(use - len(best))  # a negative count removes tokens from the end
                rest = ids[use:]
        logits, cache = self._step(torch.tensor([rest], device=self.device), cache)
        if self._remember(key, logits, cache) and private:
            cache = fork(cache)
        return logits, cache

    def _keep_branches(self, prompt: tuple[int, ...], cache: KVCache, tokens: list[list[int]]) -> None:
        kept = None
        if self._prefix_slots and cache is not None and all(hasattr(x, "_own") for x in cache.layers):
            kept = Branches(prompt, cache, tokens)
        self._branches = kept if kept is not None and kept.bytes <= self._prefix_bytes else None

    def _prompt_cache(self, prompt: tuple[int, ...]) -> KVCache | None:
        """The cache of exactly `prompt`, from a kept entry that is it or goes further (cut back); None if none."""
        for key, (_, cache, _) in self._prefixes.items():
            if key == prompt:
                self._prefixes.move_to_end(key)
                return cache
            if len(key) > len(prompt) and key[: len(prompt)] == prompt and croppable(cache):
                self._prefixes.move_to_end(key)
                cut = fork(cache)
                cut.crop(len(prompt) - len(key))
                return cut
        return None

    def _remember(self, key: tuple[int, ...], logits: torch.Tensor, cache: KVCache) -> bool:
        """Keep a prompt's cache (which the caller then must not change); False if it is not kept."""
        if not self._prefix_slots:
            return False
        size = cache_bytes(cache)
        if size > self._prefix_bytes:
            return False
        if croppable(cache):  # a prompt this one extends comes back from it by a cut
            for other in [k for k in self._prefixes if len(k) < len(key) and key[: len(k)] == k]:
                del self._prefixes[other]
        self._prefixes[key] = (logits, cache, size)
        self._prefixes.move_to_end(key)
        while (
            len(self._prefixes) > self._prefix_slots or sum(e[2] for e in self._prefixes.values()) > self._prefix_bytes
        ):
            self._prefixes.popitem(last=False)
        return True

    def _shared_prompt(self) -> bool:
        """Whether n branches' attention may read the prompt's cache once for all
        (backends.attention): only for a model on transformers' SDPA whose logits
        come out the same that way as in one pass, checked once on the model itself."""
        if self._shared is None:
            self._shared = False
            if getattr(self.model.config, "_attn_implementation", None) == "sdpa":
                from .attention import NAME, register

                try:
                    if register():
                        self.model.set_attn_implementation(NAME)
                        self._shared = self._same_logits()
                except (ValueError, TypeError, RuntimeError, AttributeError, ImportError):
                    self._shared = False
                if not self._shared:
                    self.model.set_attn_implementation("sdpa")
        return self._shared

    def _same_logits(self) -> bool:
        import torch

        size = int(self.model.config.vocab_size)
        prompt = [(7 * i + 3) % size for i in range(8)]
        rows = [[(11 * i + 5) % size for i in range(3)], [(13 * i + 1) % size for i in range(3)]]
        with torch.inference_mode():
            whole = self.model(input_ids=torch.tensor([prompt + r for r in rows], device=self.device)).logits[:, -1]
            _, cache = self._step(torch.tensor([prompt], device=self.device), None)
            cache = branch_cache(cache, 2, len(prompt) + 3, shared=True)
            if cache is None:
                return False
            for i in range(3):
                logits, cache = self._step(torch.tensor([[r[i]] for r in rows], device=self.device), cache)
        scale = float(whole.abs().max()) or 1.0
        tolerance = 1e-4 if self.dtype == torch.float32 else 2e-2  # half precision differs in its own last bits
        return float((logits.float() - whole.float()).abs().max()) <= tolerance * scale

    # -- the interface -------------------------------------------------------
    def generate(
        self, prompt: Prompt, params: GenerationParams, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        import torch

        from .sampling import cap_logits, processed_probs

        params.validate()
        n = params.n
        seeds = branch_seeds(params)
        ids, notice = self._trim(self.context_ids(prompt)[0], params.max_tokens)
        has_prompt = bool(Context.of(prompt))
        if notice:
            yield Notice(notice)
        room = self.context - len(ids)
        steps = min(params.max_tokens, room)
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        eos = self.tokenizer.eos_token_id
        with self._lock, torch.inference_mode():
            logits, prompt_cache = self._prefill(ids, private=False)
            logits = logits.expand(n, -1)
            # made after the first token: it is not needed for that one
            cache: KVCache = None
            alive = [True] * n
            branch_ids: list[list[int]] = [[] for _ in range(n)]
            # incremental detokenizing: decode only the tokens since the last whole character
            # (from `start`, with the already shown tokens up to `read` as context), not the whole branch
            start, read = [0] * n, [0] * n
            stops = [StopText(params.stop) for _ in range(n)]
            try:
                for step in range(steps):
                    if cancel is not None and cancel.is_set():
                        for b in range(n):
                            if alive[b]:
                                yield BranchDone(b, "cancelled", seeds[b])
                        return
                    logp = torch.log_softmax(logits.float(), dim=-1).cpu()
                    if params.temperature == 0:  # the most likely token the cap leaves
                        chosen = cap_logits(logp, params.cap).argmax(-1).tolist()
                    else:
                        coins = torch.tensor([torch.rand(1, generator=g).item() for g in gens])
                        probs = processed_probs(logits, params, coins).cpu()
                        chosen = [
                            int(torch.multinomial(probs[b], 1, generator=gens[b])) if alive[b] else 0 for b in range(n)
                        ]
                    # top-k and chosen logprobs for all branches at once, as Python numbers
                    k = params.logprobs
                    top = logp.topk(k, dim=-1) if k > 0 else (logp[:, :0], logp[:, :0].long())
                    top_v, top_i = top[0].tolist(), top[1].tolist()
                    chosen_lp = logp.gather(1, torch.tensor(chosen).unsqueeze(1)).squeeze(1).tolist()
                    for b in range(n):
                        if not alive[b]:
                            continue
                        tid = chosen[b]
                        if tid == eos and (step > 0 or has_prompt):
                            alive[b] = False
                            yield BranchDone(b, "eos", seeds[b])
                            continue
                        branch_ids[b].append(tid)
                        delta = self._delta(branch_ids[b], start, read, b, last=step == steps - 1)
                        keep, hit = stops[b].add(delta)
                        alts = tuple(Alternative(self.token_text(i), v, i) for v, i in zip(top_v[b], top_i[b]))
                        yield TokenEvent(b, Token(keep, chosen_lp[b], tid, alts))
                        if hit:
                            alive[b] = False
                            yield BranchDone(b, "stop", seeds[b])
                    if not any(alive):
                        return
                    if step < steps - 1:
                        if cache is None:
                            cache = branch_cache(prompt_cache, n, len(ids) + steps, n > 1 and self._shared_prompt())
                            if cache is None:
                                cache = fork(prompt_cache)
                                if n > 1:
                                    cache.batch_repeat_interleave(n)
                        x = torch.tensor([[c] for c in chosen], device=self.device)
                        logits, cache = self._step(x, cache)
                for b in range(n):
                    if alive[b]:
                        yield BranchDone(b, "length", seeds[b])
            finally:  # kept for the next generation, from one of these branches' nodes
                self._keep_branches(tuple(ids), cache, branch_ids)

    def _delta(self, ids: list[int], start: list[int], read: list[int], b: int, last: bool) -> str:
        """The text the newest token of branch `b` adds. A token that ends in the middle
        of a multi-byte character adds "" until the character is whole (or the branch ends)."""
        before = self._decode(ids[start[b] : read[b]])
        now = self._decode(ids[start[b] :])
        if now.endswith("\ufffd") and not last:
            return ""
        start[b], read[b] = read[b], len(ids)
        return now[len(before) :]

    def score(self, prompt: Prompt, continuations: list[str]) -> list[float]:
        return self._score(prompt, continuations)[0]

    def score_answers(
        self, prompt: Prompt, continuations: list[str], starts: tuple[str, ...]
    ) -> list[tuple[float, float]]:
        """For each continuation: its total log-probability after `prompt`, and the
        log of the probability mass, right after it, of every token that ends an
        answer (end-of-text, and each token whose text starts with one of
        `starts`). Exact, from the full distribution of the same forward pass:
        for P(text as a complete answer)."""
        totals, ends = self._score(prompt, continuations, self._terminal_ids(starts))
        return list(zip(totals, ends))

    def _terminal_ids(self, starts: tuple[str, ...]) -> torch.Tensor:
        import torch

        if starts not in self._terminals:
            ids = {i for i in range(len(self.tokenizer)) if self.token_text(i).startswith(starts)}
            if self.tokenizer.eos_token_id is not None:
                ids.add(self.tokenizer.eos_token_id)
            self._terminals[starts] = torch.tensor(sorted(ids))
        return self._terminals[starts]

    def _score(
        self, prompt: Prompt, continuations: list[str], terminal: torch.Tensor | None = None
    ) -> tuple[list[float], list[float]]:
        """The total log-probability of each continuation, and (with `terminal`; else
        an empty list) the log mass of the `terminal` ids right after each."""
        import torch

        base = self.context_ids(prompt)[0]
        totals: list[float] = []
        ends: list[float] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(continuations), 32):
                batch = [
                    self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations[start : start + 32]
                ]
                seqs = [(base + c)[-self.context :] for c in batch]
                width = max(len(s) for s in seqs)
                pad = self.tokenizer.eos_token_id or 0
                x = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.device)
                mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=self.device)
                logp = torch.log_softmax(self.model(input_ids=x, attention_mask=mask).logits.float(), -1)
                for row, (seq, cont) in enumerate(zip(seqs, batch)):
                    first = len(seq) - len(cont)
                    totals.append(sum(float(logp[row, pos - 1, seq[pos]]) for pos in range(first, len(seq))))
                    if terminal is not None:
                        ends.append(float(torch.logsumexp(logp[row, len(seq) - 1, terminal.to(logp.device)], 0)))
        return totals, ends

    def next_token_distribution(self, prompt: Prompt, k: int = 10) -> Distribution:
        import torch

        ids, _ = self._trim(self.context_ids(prompt)[0], 1)
        with self._lock, torch.inference_mode():
            logits, _ = self._prefill(ids, private=False)
            logp = torch.log_softmax(logits[0].float(), -1).cpu()
        entropy = float(-(logp.exp() * logp).nan_to_num().sum()) / math.log(2)
        return Distribution(self._alternatives(logp, k), entropy)

    # -- full distributions ------------------------------------------------------
    full_distributions_refusal = None

    def vocabulary(self) -> dict[str, Any]:
        if self._vocabulary is None:
            import hashlib
            import json

            table = sorted(self.tokenizer.get_vocab().items(), key=lambda kv: kv[1])
            text = json.dumps(table, ensure_ascii=False).encode("utf-8", "surrogatepass")
            head = self.model.get_output_embeddings()  # type: ignore[no-untyped-call, unused-ignore]  # untyped in transformers
            size = int(head.weight.shape[0]) if head is not None else int(self.model.config.vocab_size)
            self._vocabulary = {"size": size, "tokens": len(table), "sha256": hashlib.sha256(text).hexdigest()}
        return self._vocabulary

    def context_tokens(self, prompt: Prompt, same_vocabulary: tuple[str, ...] = ()) -> ContextTokens:
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        retokenised: list[int] = []
        for seg in Context.of(prompt).segments:
            start = len(ids)
            ids += self._segment_ids(seg, (self.name, *same_vocabulary), retokenised)
            spans.append((start, len(ids)))
        return ContextTokens(ids, spans, retokenised)

    def position_logprobs(self, ids: list[int], positions: list[int]) -> npt.NDArray[np.float32]:
        import torch

        if len(ids) > self.context:
            raise BackendError(
                f"model {self.name!r}: the context has {len(ids)} tokens, more than the model's "
                f"window of {self.context}; every position needs the whole context in one window"
            )
        bad = [p for p in positions if not 1 <= p < len(ids)]
        if bad:
            raise ValueError(
                f"positions must be from 1 to {len(ids) - 1} (a token with a context before it); got {bad[:5]}"
            )
        with self._lock, torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids], device=self.device)).logits[0]
            rows = torch.tensor([p - 1 for p in positions], dtype=torch.long, device=self.device)
            return torch.log_softmax(logits[rows].float(), -1).cpu().numpy()

    def next_token_distributions(
        self, prompt: Prompt, continuations: list[list[int]], k: int = 10
    ) -> list[Distribution]:
        """Exact next-token distributions after `prompt` followed by each
        continuation (token ids), for the block multiverse and model comparison:
        the prompt is prefilled once and continuations of equal length run as
        one batch on a copy of its cache."""
        import torch

        longest = max((len(c) for c in continuations), default=0)
        ids, _ = self._trim(self.context_ids(prompt)[0], longest + 1)
        groups: dict[int, list[int]] = {}
        for i, cont in enumerate(continuations):
            groups.setdefault(len(cont), []).append(i)
        # At most 64 rows at a time: each holds its own copy of the prompt's cache.
        chunks = [(length, rows[i : i + 64]) for length, rows in groups.items() for i in range(0, len(rows), 64)]
        out: dict[int, Distribution] = {}  # by continuation; every one is in a chunk
        with self._lock, torch.inference_mode():
            for length, rows in chunks:
                logits, cache = self._prefill(ids)
                if length:
                    if len(rows) > 1:
                        cache.batch_repeat_interleave(len(rows))
                    x = torch.tensor([continuations[r] for r in rows], device=self.device)
                    logits, _ = self._step(x, cache)
                logp = torch.log_softmax(logits.float(), -1).cpu()
                entropy = (-(logp.exp() * logp).nan_to_num().sum(-1) / math.log(2)).tolist()
                for j, r in enumerate(rows):
                    row = logp[j if length else 0]
                    out[r] = Distribution(self._alternatives(row, k), entropy[j if length else 0])
        return [out[i] for i in range(len(continuations))]
