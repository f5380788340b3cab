"""The one interface every model source implements."""

from __future__ import annotations

import secrets
import threading
from abc import ABC, abstractmethod
from typing import Iterator

from ..tree import BranchDone, Context, Distribution, GenerationParams, LoomError, Notice, TokenEvent

Prompt = str | Context

Event = TokenEvent | BranchDone | Notice


class BackendError(LoomError):
    """A model could not be loaded or a request failed; the message says which and why."""


class Backend(ABC):
    #: the model's name as recorded on every node it writes
    name: str = ""
    #: whether `score` gives exact sequence probabilities
    can_score: bool = True

    @abstractmethod
    def generate(self, prompt: Prompt, params: GenerationParams, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Stream `params.n` branches after `prompt` (a Context, or plain text), token by token.

        Yields TokenEvent per token, BranchDone once per branch (with the seed
        that branch used), and Notice for things the user must be told."""

    def refuse_unsupported(self, params: GenerationParams) -> None:
        """Refuse (BackendError, saying why) settings this model source cannot honour,
        before anything is sent or stored. Every source that runs loom's own samplers can."""

    @abstractmethod
    def score(self, prompt: Prompt, continuations: list[str]) -> list[float]:
        """Total log-probability of each continuation as a whole sequence after `prompt`."""

    @abstractmethod
    def next_token_distribution(self, prompt: Prompt, k: int = 10) -> Distribution:
        """The top-k next tokens after `prompt`, with the entropy of the full distribution."""

    def identity(self) -> dict:
        """Which model this is, recorded with every node and record it makes:
        its name, and a hash of its weights (local) or the server's model id."""
        return {"name": self.name}

    def context_form(self, prompt: Prompt) -> dict:
        """How this backend gives `prompt` to its model, recorded with every node:
        {"form": "ids"} when the model gets exactly the context's token ids,
        {"form": "text"} when it gets the text and tokenises it itself;
        "retokenised" lists the nodes whose ids could not be used (written by another model)."""
        return {"form": "text", "retokenised": []}

    def close(self) -> None:
        pass


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
