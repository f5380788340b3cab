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


# The editor (Textual's TextArea) draws its text raw and splits lines at \r, \v,
# \f and U+2028/9. For editing, such characters become private-use stand-ins
# (U+F0000 + code) and come back unchanged on save, so an edit never injects
# escapes into the terminal nor silently changes what it did not touch.
_EDIT_UNSAFE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff\ufff9-\ufffb\u2028\u2029]")
_PUA = 0xF0000
_PUA_BACK = re.compile("[\U000f0000-\U000fdfff]")


def to_editable(text: str) -> tuple[str, int]:
    """Text safe for the editor, and how many characters were replaced."""
    return _EDIT_UNSAFE.subn(lambda m: chr(_PUA + ord(m.group())), text)


def from_editable(text: str) -> str:
    return _PUA_BACK.sub(lambda m: chr(ord(m.group()) - _PUA), text)
