"""The one interface every model source implements."""

from __future__ import annotations

import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..tree import BranchDone, Context, Distribution, GenerationParams, LoomError, Notice, TokenEvent, TokensEvent

Prompt = str | Context

Event = TokenEvent | TokensEvent | BranchDone | Notice

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class BackendError(LoomError):
    """A model could not be loaded or a request failed; the message says which and why."""


@dataclass(frozen=True)
class ContextTokens:
    """A context as the token ids a model is given, with where each segment's ids lie."""

    ids: list[int]
    spans: list[tuple[int, int]]  # [start, end) in `ids` of each of the context's segments, in order
    retokenised: list[int]  # nodes whose sampled ids could not be used (written by another model)


class Backend(ABC):
    #: the model's name as recorded on every node it writes
    name: str = ""
    #: whether `score` gives exact sequence probabilities
    can_score: bool = True

    @abstractmethod
    def generate(
        self, prompt: Prompt, params: GenerationParams, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Stream `params.n` branches after `prompt` (a Context, or plain text), token by token.

        Yields TokenEvent per token, BranchDone once per branch (with the seed
        that branch used), and Notice for things the user must be told."""

    def generate_many(
        self,
        items: Sequence[tuple[Prompt, GenerationParams]],
        cancel: threading.Event | None = None,
        live: bool = True,
    ) -> Iterator[tuple[int, Event]]:
        """The branches of several (prompt, settings) items, as (item index, event).

        A model source that serves many requests at once (a server) runs them
        all together, and streams tokens only when `live` (someone is watching
        them arrive; otherwise it may give a branch's tokens together, as one
        TokensEvent); here, one item after another, as generate() gives them."""
        for index, (prompt, params) in enumerate(items):
            for event in self.generate(prompt, params, cancel):
                yield index, event

    def refuse_unsupported(self, params: GenerationParams) -> None:  # noqa: B027 (optional hook: most sources accept all)
        """Refuse (BackendError, saying why) settings this model source cannot honour,
        before anything is sent or stored. Every source that runs loom's own samplers can."""

    @abstractmethod
    def score(self, prompt: Prompt, continuations: list[str]) -> list[float]:
        """Total log-probability of each continuation as a whole sequence after `prompt`."""

    @abstractmethod
    def next_token_distribution(self, prompt: Prompt, k: int = 10) -> Distribution:
        """The top-k next tokens after `prompt`, with the entropy of the full distribution."""

    def identity(self) -> dict[str, Any]:
        """Which model this is, recorded with every node and record it makes:
        its name, and a hash of its weights (local) or the server's model id."""
        return {"name": self.name}

    def context_form(self, prompt: Prompt) -> dict[str, Any]:
        """How this backend gives `prompt` to its model, recorded with every node:
        {"form": "ids"} when the model gets exactly the context's token ids,
        {"form": "text"} when it gets the text and tokenises it itself;
        "retokenised" lists the nodes whose ids could not be used (written by another model)."""
        return {"form": "text", "retokenised": []}

    def context_window(self, prompt: Prompt, room: int) -> dict[str, int] | None:
        """Which of the context's tokens the model sees when `room` tokens are to be generated:
        {"start": s, "end": e}, the ids [s, e) of the context (recorded with every node);
        None where the model source gets the whole context and cuts it itself."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook: only some sources hold resources)
        pass

    # -- full next-token distributions (over the whole vocabulary) -----------------
    #: why this backend cannot give them; None where it can
    full_distributions_refusal: str | None = "this backend does not give full next-token distributions"

    def _refuse_full(self) -> BackendError:
        return BackendError(f"model {self.name!r}: {self.full_distributions_refusal}")

    def vocabulary(self) -> dict[str, Any]:
        """What the model's distributions are over: {"size": the width of its logits,
        "tokens": the tokenizer's table size, "sha256": a hash of its token-to-id table};
        two models with the same one give distributions over the same tokens."""
        raise self._refuse_full()

    def context_tokens(self, prompt: Prompt, same_vocabulary: tuple[str, ...] = ()) -> ContextTokens:
        """The ids this model is given for `prompt`, segment by segment. A node that
        one of `same_vocabulary` (model names with this model's vocabulary) wrote
        keeps its sampled ids, as a node of this model does."""
        raise self._refuse_full()

    def position_logprobs(self, ids: list[int], positions: list[int]) -> npt.NDArray[np.float32]:
        """From one forward pass over `ids`: for each position p (1 <= p < len(ids)),
        the natural-log probability of every token of the vocabulary as the token
        at p, given ids[:p]. A float32 array, len(positions) x vocabulary size."""
        raise self._refuse_full()

    def token_text(self, token_id: int) -> str:
        """The text of one token id."""
        raise self._refuse_full()


def branch_seeds(params: GenerationParams) -> list[int]:
    """One seed per branch: `seed + i`, so that any single branch can be replayed alone."""
    base = params.seed if params.seed is not None else secrets.randbelow(2**31)
    return [base + i for i in range(params.n)]


class StopText:
    """Tracks a branch's text and finds the first stop string in it."""

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.text = ""

    def add(self, delta: str) -> tuple[str, bool]:
        """Add a token's text; returns the part of it to keep and whether a stop string was hit."""
        before = len(self.text)
        self.text += delta
        if not self.stops:
            return delta, False
        hits = [i for i in (self.text.find(s, max(0, before - len(s))) for s in self.stops) if i >= 0]
        if not hits:
            return delta, False
        cut = min(hits)
        keep = self.text[before:cut] if cut > before else ""
        self.text = self.text[:cut]
        return keep, True
