"""Make any text safe to show in a terminal, literally.

Model and imported text may hold ANSI/OSC escape sequences, control characters,
NUL, lone surrogates, bidi overrides. The stored text is never changed; only
what is drawn is: each such character is drawn as a visible stand-in, so the
terminal never interprets it and the user still sees that it is there."""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff\ufff9-\ufffb]")


def _standin(m: re.Match) -> str:
    ch = m.group()
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ␇ ␛ ... control pictures
    if code == 0x7F:
        return "\u2421"  # ␡
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"<U+{code:04X}>"


def visible(text: str) -> str:
    """`text` with every character a terminal could act on replaced by a visible
    stand-in. Newlines stay; tabs become spaces. Length may change."""
    return _UNSAFE.sub(_standin, text.replace("\t", "    "))


def one_line(text: str, limit: int = 80) -> str:
    """A single-line preview: whitespace runs collapsed, made visible, cut to `limit`."""
    return visible(" ".join(text.split()))[:limit]
