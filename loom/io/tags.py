"""Tag rules shared by the CLI and the app: bookmarks are the tag "bookmark"."""

from __future__ import annotations

from . import TreeFormatError
from .sessionlike import SessionLike

BOOKMARK = "bookmark"
MAX_TAG = 100


class TagError(TreeFormatError):
    """A tag is refused; the message says which and why."""


def check_tag(tag: str) -> str:
    clean = tag.strip()
    if not clean:
        raise TagError("a tag cannot be empty")
    if len(clean) > MAX_TAG or any(c in clean for c in "\n\r\t,"):
        raise TagError(f"tag {clean[:40]!r}: a tag is one line of at most {MAX_TAG} characters, without commas")
    return clean


def parse_tags(text: str) -> list[str]:
    """Tags typed as 'a, b, c' (blank entries ignored), each checked, in order, without repeats."""
    return list(dict.fromkeys(check_tag(t) for t in text.split(",") if t.strip()))


def toggle_bookmark(session: SessionLike, node_id: int) -> bool:
    """Bookmark the node, or remove its bookmark; True when it is bookmarked now."""
    if BOOKMARK in session.tags(node_id):
        session.remove_tag(node_id, BOOKMARK)
        return False
    session.add_tag(node_id, BOOKMARK)
    return True


def set_tags(session: SessionLike, node_id: int, tags: list[str]) -> None:
    """Make the node's tags exactly `tags`."""
    have = set(session.tags(node_id))
    for t in have - set(tags):
        session.remove_tag(node_id, t)
    for t in tags:
        if t not in have:
            session.add_tag(node_id, t)
