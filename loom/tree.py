"""Plain data shared by every layer: nodes, tokens and generation parameters.

Nothing here imports textual, torch or the database."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, overload

AUTHORS = ("prompt", "model", "edit", "human")


@dataclass(frozen=True)
class Alternative:
    """One candidate token at a position, with its log-probability."""

    text: str
    logprob: float
    token_id: int | None = None

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)


class LazyAlternatives(Sequence[Alternative]):
    """A token's alternatives, built as objects only when first read (`_tuple`):
    opening a long path or reading thousands of samples touches every token, but
    the alternatives of few are looked at. Behaves as the tuple it stands for
    (indexing, slicing, iteration, ==, hash)."""

    __slots__ = ()

    def _tuple(self) -> tuple[Alternative, ...]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Alternative: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Alternative, ...]: ...
    def __getitem__(self, index: int | slice) -> Alternative | tuple[Alternative, ...]:
        return self._tuple()[index]

    def __iter__(self) -> Iterator[Alternative]:  # Sequence's own asks __getitem__ for each index until IndexError
        return iter(self._tuple())

    def __len__(self) -> int:
        return len(self._tuple())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (tuple, Sequence)) and not isinstance(other, str) and self._tuple() == tuple(other)

    def __hash__(self) -> int:
        return hash(self._tuple())

    def __repr__(self) -> str:
        return repr(self._tuple())


@dataclass(frozen=True)
class Token:
    """A token the model wrote.

    `text` is the text this token added to the node (it can be "" when a token
    is an incomplete piece of a multi-byte character, completed by the next).
    `alternatives` are the top-k candidates at this position, most likely first:
    a tuple, or the session's LazyAlternatives (below) that behaves as one.
    `raw` says whether the numbers come from the model's distribution before
    temperature/top-p/top-k (True) or after the sampler changed it (False).
    """

    text: str
    logprob: float | None
    token_id: int | None = None
    alternatives: Sequence[Alternative] = ()
    raw: bool = True

    @property
    def prob(self) -> float | None:
        return None if self.logprob is None else math.exp(self.logprob)


class LoomError(Exception):
    """A failure a person can act on (bad input, a model or file that cannot be
    used, a server that cannot support a figure). Its message says what and why;
    every face prints it as one line and goes on, and nothing stored has changed.
    Each layer's error derives from it, so the faces catch one class."""


class ParamError(LoomError, ValueError):
    """A generation parameter is out of range; the message says which and why."""


@dataclass
class GenerationParams:
    n: int = 4
    max_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    xtc_threshold: float = 0.0
    xtc_probability: float = 0.0
    # remove every token the model gives more than `cap` (1 = off), see backends.sampling.cap_logits
    cap: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    logprobs: int = 10
    model: str = ""

    def validate(self) -> GenerationParams:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ParamError(msg)

        need(_whole(self.n) and 1 <= self.n <= 1000, f"n must be a whole number from 1 to 1000 (got {self.n!r})")
        need(
            _whole(self.max_tokens) and 1 <= self.max_tokens <= 100_000,
            f"max tokens must be a whole number from 1 to 100000 (got {self.max_tokens!r})",
        )
        need(
            _num(self.temperature) and 0 <= self.temperature <= 10,
            f"temperature must be a number from 0 to 10 (got {self.temperature!r})",
        )
        need(_num(self.top_p) and 0 < self.top_p <= 1, f"top-p must be above 0 and at most 1 (got {self.top_p!r})")
        need(_whole(self.top_k) and self.top_k >= 0, f"top-k must be a whole number, 0 for off (got {self.top_k!r})")
        need(_num(self.min_p) and 0 <= self.min_p < 1, f"min-p must be from 0 to below 1 (got {self.min_p!r})")
        need(
            _num(self.xtc_threshold) and 0 <= self.xtc_threshold <= 1,
            f"XTC threshold must be from 0 to 1 (got {self.xtc_threshold!r})",
        )
        need(
            _num(self.xtc_probability) and 0 <= self.xtc_probability <= 1,
            f"XTC probability must be from 0 to 1 (got {self.xtc_probability!r})",
        )
        need(_num(self.cap) and 0 < self.cap <= 1, f"cap must be above 0 and at most 1, 1 for off (got {self.cap!r})")
        need(
            isinstance(self.stop, list) and all(isinstance(s, str) and s for s in self.stop),
            "stop strings must be non-empty texts",
        )
        need(
            self.seed is None or (_whole(self.seed) and 0 <= self.seed < 2**63),
            f"seed must be a whole number from 0 to 2^63-1, or empty for random (got {self.seed!r})",
        )
        need(
            _whole(self.logprobs) and 0 <= self.logprobs <= 100,
            f"alternatives per token must be from 0 to 100 (got {self.logprobs!r})",
        )
        return self

    @property
    def sampler(self) -> str:
        """A short name of the sampler chain that made a node, recorded with it."""
        cap = [f"cap={self.cap:g}"] if self.cap < 1 else []
        if self.temperature == 0:  # the most likely token (that the cap leaves): the other samplers do not apply
            return " ".join(["greedy", *cap])
        parts = [f"temp={self.temperature:g}", *cap]
        if self.top_k:
            parts.append(f"top_k={self.top_k}")
        if self.top_p < 1:
            parts.append(f"top_p={self.top_p:g}")
        if self.min_p > 0:
            parts.append(f"min_p={self.min_p:g}")
        if self.xtc_probability > 0 and self.xtc_threshold > 0:
            parts.append(f"xtc={self.xtc_threshold:g}/{self.xtc_probability:g}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        known = _FIELDS.get(cls)
        if known is None:  # (worked out once: an import reads the settings of every node)
            known = _FIELDS[cls] = frozenset(f.name for f in fields(cls))
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> GenerationParams:
        return GenerationParams.from_dict({**self.to_dict(), **changes})


#: each GenerationParams class's field names
_FIELDS: dict[type[GenerationParams], frozenset[str]] = {}


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class Node:
    id: int
    parent_id: int | None
    text: str
    author: str
    derived_from: int | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    created: float = 0.0
    complete: bool = True
    tokens: list[Token] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_prob(self) -> float | None:
        probs = [math.exp(t.logprob) for t in self.tokens or () if t.logprob is not None]
        return sum(probs) / len(probs) if probs else None

    @property
    def preview(self) -> str:
        return " ".join(self.text.split())[:80]

    def token_count(self) -> int:
        """How many tokens the node has. A node of a path read from a session knows
        it without decoding them (see store.session.StoredNode)."""
        return len(self.tokens or ())

    def to_dict(self, tokens: bool = False) -> dict[str, Any]:
        """The node as --json and the Python API show it (its tokens with their alternatives, when asked)."""
        d: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent_id,
            "author": self.author,
            "text": self.text,
            "derived_from": self.derived_from,
            "model": self.model,
            "params": self.params,
            "created": self.created,
            "complete": self.complete,
            "mean_prob": self.mean_prob,
            "meta": self.meta,
        }
        if tokens and self.tokens:
            d["tokens"] = [
                {
                    "text": t.text,
                    "id": t.token_id,
                    "logprob": t.logprob,
                    "top": [{"text": a.text, "id": a.token_id, "logprob": a.logprob} for a in t.alternatives],
                }
                for t in self.tokens
            ]
        return d


@dataclass(frozen=True)
class TokenEvent:
    """One token of one branch, as a backend streams it."""

    branch: int
    token: Token


@dataclass(frozen=True)
class TokensEvent:
    """Several tokens of one branch at once: a whole reply, where nobody watches
    tokens arrive (Backend.generate_many with live=False). `tokens` may build its
    Token objects only when read; `text` and `logprobs` give the branch's text and
    its sampled tokens' logprobs (None left out) without building them."""

    branch: int
    tokens: Sequence[Token]

    @property
    def text(self) -> str:
        text = getattr(self.tokens, "text", None)
        return text if isinstance(text, str) else "".join(t.text for t in self.tokens)

    @property
    def logprobs(self) -> list[float]:
        lps = getattr(self.tokens, "logprobs", None)
        return list(lps) if isinstance(lps, list) else [t.logprob for t in self.tokens if t.logprob is not None]


@dataclass(frozen=True)
class BranchDone:
    """A branch finished: `reason` is 'stop', 'length', 'eos', 'cancelled', or
    'error' (cut off by a server fault; kept marked incomplete, like 'cancelled')."""

    branch: int
    reason: str
    seed: int | None = None


@dataclass(frozen=True)
class Notice:
    """Something the user should be told once about a generation (a trimmed
    prompt, a server that sends no logprobs)."""

    text: str


@dataclass(frozen=True)
class Distribution:
    """The model's next-token distribution after some text."""

    alternatives: tuple[Alternative, ...]
    entropy_bits: float | None = None


@dataclass(frozen=True)
class Segment:
    """One stretch of a context: the token ids a model wrote (`ids`, with the
    name of the model that wrote them), or text a person wrote (`ids` None).
    `text` is always the stretch's text, for a model that cannot take ids."""

    text: str
    ids: tuple[int, ...] | None = None
    model: str | None = None
    node: int | None = None


@dataclass(frozen=True)
class Context:
    """What a model is given: the path from the root as segments. A model-written
    node is fed back as the ids it sampled, never as its re-tokenised text (the
    sampled tokens are often not the canonical tokenisation of that text)."""

    segments: tuple[Segment, ...] = ()

    @classmethod
    def of(cls, prompt: str | Context) -> Context:
        if isinstance(prompt, Context):
            return prompt
        return cls((Segment(prompt),) if prompt else ())

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def plus(self, segment: Segment) -> Context:
        return Context((*self.segments, segment))

    def __bool__(self) -> bool:
        return any(s.text or s.ids for s in self.segments)


def node_segment(node: Node, upto: int | None = None) -> Segment:
    """A node as a context segment: its sampled ids when every token has one,
    else its text. `upto` keeps only its tokens before that index."""
    toks = node.tokens or []
    if upto is not None:
        toks = toks[:upto]
        text = "".join(t.text for t in toks)
    else:
        text = node.text
    ids = tuple(t.token_id for t in toks if t.token_id is not None)
    if toks and len(ids) == len(toks) and node.model:
        return Segment(text, ids, node.model, node.id)
    return Segment(text, None, None, node.id)
