"""Tokens that are pieces of a character, as OpenAI writes them (`bytes:\\xe2\\x80`),
as `bytes` arrays, or as U+FFFD only: their exact bytes, and a piece's text once
the bytes before it are known. Shared by the OpenAI-compatible backend (server
replies) and the importer of the original loom's files (which stored OpenAI's
replies), which sit side by side in the layers and so cannot import each other."""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_BYTE_ESCAPE = re.compile(r"(\\x[0-9a-fA-F]{2})")


def token_bytes(text: str, data: Any = None) -> bytes | None:
    """The exact bytes of a token, or None when the server sent only U+FFFD."""
    if isinstance(data, list) and data and all(isinstance(b, int) and 0 <= b < 256 for b in data):
        return bytes(data)
    if text.startswith("bytes:"):
        out = b""
        for part in _BYTE_ESCAPE.split(text[6:]):
            out += bytes([int(part[2:], 16)]) if _BYTE_ESCAPE.fullmatch(part) else part.encode("utf-8")
        return out
    if REPLACEMENT in text:
        return None
    return text.encode("utf-8", "surrogatepass")


def display_text(text: str, data: bytes | None, pending: bytes = b"") -> str:
    """A candidate token's text: decoded from its bytes, together with the
    start of a character that the tokens before it left open where that
    completes it; U+FFFD only where the bytes are truly partial."""
    if data is None:
        return text
    for candidate in ((pending + data) if pending else b"", data):
        if candidate:
            try:
                return candidate.decode("utf-8")
            except UnicodeDecodeError:
                pass
    return data.decode("utf-8", "replace")
