"""The app's typed messages: one small dataclass per event a worker thread sends
to the app (post_message is safe from any thread)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..tree import Node


@dataclass
class TokenGrown(Message):
    """A generation's branch grew by one token (not yet saved)."""

    branch: int
    text: str


@dataclass
class BranchSaved(Message):
    """A generation's branch finished and is committed as `node`."""

    branch: int
    node: Node


@dataclass
class GenerationNotice(Message):
    """Something to tell the user once about a generation (a trimmed prompt...)."""

    text: str
