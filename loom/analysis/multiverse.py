"""The block multiverse: the tree of a model's continuations after a text,
expanded to a fixed depth, where every block is one token sequence and its
height is that sequence's probability (the product of its conditionals).

Expansion keeps, at every step, the top-k next tokens, or fewer when a
probability-mass cut-off is reached first. So the blocks of one column sum to
the probability mass expanded at that depth (at most 1), and each block's
children sit inside it. Zooming into a block re-expands from its end and
renormalises heights to that branch, as in the essay's figures.

Pure analysis: no textual, no drawing. Local models are expanded on token ids
(exact, batched); any other backend through `next_token_distribution` on text."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..tree import Alternative, Context, Distribution, LoomError, Token

MAX_DEPTH = 12
MAX_K = 50
# A guard against an expansion that would take minutes: blocks per column.
MAX_COLUMN = 4000


class MultiverseError(LoomError, ValueError):
    """Bad expansion settings; the message says which and why."""


@dataclass(eq=False)
class Block:
    """One token at one position, standing for the sequence from the view's root to it."""

    text: str
    token_id: int | None
    logprob: float  # conditional: log P(this token | everything before it)
    seq_logprob: float  # log P(the whole path from the view's root to here)
    depth: int  # 1 = first column
    parent: Block | None = None
    children: list[Block] = field(default_factory=list)
    terminal: bool = False  # end of text: nothing follows
    entropy_bits: float | None = None  # of the distribution this block's children were drawn from

    @property
    def prob(self) -> float:
        return math.exp(self.seq_logprob)

    @property
    def cond_prob(self) -> float:
        return math.exp(self.logprob)

    def path(self) -> list[Block]:
        out: list[Block] = []
        b: Block | None = self
        while b is not None:
            out.append(b)
            b = b.parent
        return out[::-1]

    def path_text(self) -> str:
        return "".join(b.text for b in self.path())

    def tokens(self) -> list[Token]:
        """The path as Tokens (raw logprobs), ready for Session.add_node."""
        return [Token(b.text, b.logprob, b.token_id) for b in self.path()]

    def walk(self) -> Iterator[Block]:
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class Multiverse:
    prompt: str  # the node's text; the view's root is this text followed by `prefix`
    blocks: list[Block]  # the first column
    depth: int
    k: int
    mass: float | None  # per-step probability-mass cut-off, None for plain top-k
    model: str = ""
    # Zoom: the tokens between the node's text and this view's root, and their
    # total log-probability, so absolute probabilities stay available.
    prefix: tuple[Token, ...] = ()
    prefix_logprob: float = 0.0
    entropy_bits: float | None = None  # of the first column's distribution
    context: Context | None = None  # what the model was given for `prompt` (token ids where a model wrote them)

    @property
    def root_text(self) -> str:
        return self.prompt + "".join(t.text for t in self.prefix)

    def walk(self) -> Iterator[Block]:
        for b in self.blocks:
            yield from b.walk()

    def column(self, depth: int) -> list[Block]:
        return [b for b in self.walk() if b.depth == depth]

    def mass_at(self, depth: int) -> float:
        """The probability mass the blocks of one column cover (relative to the view's root)."""
        return math.fsum(b.prob for b in self.column(depth))

    def absolute_prob(self, block: Block) -> float:
        """A block's probability after the node's own text, before any zoom."""
        return math.exp(self.prefix_logprob + block.seq_logprob)

    def to_dict(self) -> dict[str, Any]:
        def one(b: Block) -> dict[str, Any]:
            return {
                "text": b.text,
                "id": b.token_id,
                "logprob": b.logprob,
                "prob": b.prob,
                "cond_prob": b.cond_prob,
                "terminal": b.terminal,
                "children": [one(c) for c in b.children],
            }

        return {
            "model": self.model,
            "depth": self.depth,
            "k": self.k,
            "mass": self.mass,
            "prefix": "".join(t.text for t in self.prefix),
            "prefix_logprob": self.prefix_logprob,
            "mass_per_depth": [self.mass_at(d) for d in range(1, self.depth + 1)],
            "entropy_bits": self.entropy_bits,
            "blocks": [one(b) for b in self.blocks],
        }


def check_settings(depth: int, k: int, mass: float | None) -> None:
    if not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise MultiverseError(f"depth must be a whole number from 1 to {MAX_DEPTH} (got {depth!r})")
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise MultiverseError(f"k (tokens kept per step) must be a whole number from 1 to {MAX_K} (got {k!r})")
    if mass is not None and not (isinstance(mass, (int, float)) and 0 < mass <= 1):
        raise MultiverseError(f"the probability-mass cut-off must be above 0 and at most 1 (got {mass!r})")


def keep(dist: Distribution, k: int, mass: float | None) -> list[Alternative]:
    """The next tokens to expand: most likely first, at most k, stopping once
    their conditional probabilities reach `mass`."""
    kept: list[Alternative] = []
    total = 0.0
    for alt in sorted(dist.alternatives, key=lambda a: -a.logprob)[:k]:
        kept.append(alt)
        total += alt.prob
        if mass is not None and total >= mass:
            break
    return kept


@dataclass(frozen=True)
class Placed:
    """A block's place in the picture: column `depth`, vertical span [top, bottom) in 0..1."""

    block: Block
    depth: int
    top: float
    bottom: float


def fit_scale(view: Multiverse) -> float:
    """The factor that makes the first column fill the picture: a model that
    spreads its probability thinly would otherwise leave it nearly empty.
    Heights stay proportional to sequence probabilities."""
    first = view.mass_at(1)
    return 1.0 / first if first > 0 else 1.0


def layout(view: Multiverse, scale: float = 1.0) -> list[Placed]:
    """Blocks placed as nested spans: each column is a token position, each
    block spans its probability (relative to the view's root) times `scale`,
    children stacked inside their parent's span from the top, most likely first."""
    out: list[Placed] = []

    def place(blocks: list[Block], top: float) -> None:
        y = top
        for b in blocks:
            p = Placed(b, b.depth, y, y + b.prob * scale)
            out.append(p)
            place(b.children, y)
            y = p.bottom

    place(view.blocks, 0.0)
    return out


def short_prob(prob: float) -> str:
    """A probability short enough for a block label, precise enough for small ones."""
    if prob >= 0.1:
        return f"{prob:.0%}"
    if prob >= 0.001:
        return f"{prob:.1%}"
    return f"{prob:.0e}"


def block_label(block: Block) -> str:
    """The token as a label: visible whitespace, end of text marked."""
    if block.terminal:
        return "⟨end⟩"
    return block.text.replace("\n", "⏎").replace("\t", "⇥") or "∅"
