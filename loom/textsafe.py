"""Make any text safe to show in a terminal, literally.

Model and imported text may hold ANSI/OSC escape sequences, control characters,
NUL, lone surrogates, bidi overrides. The stored text is never changed; only
what is drawn is: each such character is drawn as a visible stand-in, so the
terminal never interprets it and the user still sees that it is there."""

from __future__ import annotations

import re
from typing import TypeVar

_T = TypeVar("_T")

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff\ufff9-\ufffb]")


def _standin(m: re.Match[str]) -> str:
    ch = m.group()
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ␇ ␛ ... control pictures
    if code == 0x7F:
        return "\u2421"  # ␡
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"<U+{code:04X}>"


def visible(text: str, *, expand_tabs: bool = True) -> str:
    """`text` with every character a terminal could act on replaced by a visible
    stand-in. Newlines stay; tabs become four spaces (for the app's layout) or
    stay tabs (documents). Length may change. The one rule for every
    human-facing output: the app, `loom show`/`search`, Markdown, text, CSV."""
    return _UNSAFE.sub(_standin, text.replace("\t", "    ") if expand_tabs else text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: _T) -> _T | str:
    """A CSV cell for people and spreadsheets: text made visible, and text that a
    spreadsheet would evaluate as a formula (starting with = + - @, tab or CR)
    prefixed with an apostrophe, as OWASP advises. Numbers are left alone."""
    if not isinstance(value, str):
        return value
    shown = visible(value, expand_tabs=False)
    return "'" + shown if shown.startswith(_FORMULA_START) else shown


# In JSON these can only sit inside strings, so a \u escape keeps the data exact.
_JSON_UNSAFE = re.compile(rf"[\x7f-\x9f{_BIDI}\ud800-\udfff\ufff9-\ufffb\u2028\u2029]")


def inert_json(text: str) -> str:
    """JSON text (from json.dumps(..., ensure_ascii=False)) with every character a
    terminal could act on written as a \\u escape: the same data, safe to print.
    (json already escapes C0 controls.)"""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it hidden: http://user:pw@host -> http://***@host."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


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
