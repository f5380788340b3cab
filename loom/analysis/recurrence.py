"""Attractors across prompts: how often one outcome (a meaning cluster made
over all prompts' samples pooled, or a user-defined attractor) occurs after
each prompt and pooled, each rate with its 95% Wilson interval, and in how
many prompts it occurs at all. An outcome that recurs after unrelated prompts
is a global attractor (the essay's wedding party, whatever the story).
Pure functions: no store, no model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .intervals import Rate


@dataclass
class Recurrence:
    """One outcome counted per prompt and pooled."""

    pooled: Rate
    per_prompt: list[Rate]

    @property
    def prompts(self) -> int:
        """In how many prompts' samples the outcome occurs at least once."""
        return sum(1 for r in self.per_prompt if r.k > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.pooled.to_dict(),
            "prompts": self.prompts,
            "per_prompt": [{"prompt": i, **r.to_dict()} for i, r in enumerate(self.per_prompt)],
        }


def recurrence(member: list[bool], prompt_of: list[int], prompts: int) -> Recurrence:
    """The rate of `member` (one flag per sample) after each of `prompts`
    prompts (`prompt_of`: each sample's prompt index) and over all samples."""
    if len(member) != len(prompt_of):
        raise ValueError(f"one prompt index per sample: {len(member)} samples, {len(prompt_of)} indices")
    if any(not 0 <= p < prompts for p in prompt_of):
        raise ValueError(f"prompt indices must be from 0 to {prompts - 1}")
    k = Counter(p for p, m in zip(prompt_of, member) if m)
    n = Counter(prompt_of)
    return Recurrence(Rate.of(sum(member), len(member)), [Rate.of(k[p], n[p]) for p in range(prompts)])
