"""JSON without recursion, for trees of any depth.

Python's json module recurses on nesting (both the C scanner and the
encoder): a file nested 600 levels deep raises RecursionError. `loads_deep`
reads JSON with an explicit stack (slower than json.loads, used only when
json.loads gives up; `scan_deep` reads one value from a position); `iter_json`
writes a value as chunks of text, the same text json.dumps gives with the same
options, also with an explicit stack.
`Sink` writes chunks to a text file and notices lone surrogates (which a UTF-8
file cannot hold), so an exporter can start again with ASCII escapes."""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable, Iterator
from json.decoder import JSONDecodeError
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import IO, Any

from ..textsafe import inert_json

#: json's own string scanner, json.decoder.scanstring (text, index after the opening quote) -> (the string,
#: index after its closing quote); looked up by name because typeshed's json.decoder leaves it out
scanstring: Callable[[str, int], tuple[str, int]] = vars(json.decoder)["scanstring"]
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_LITERALS = (
    ("null", None),
    ("true", True),
    ("false", False),
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("-Infinity", float("-inf")),
)


def loads_deep(s: str) -> Any:
    """json.loads(s) for any nesting depth (same values, same errors as JSONDecodeError)."""
    value, pos = scan_deep(s, skip_ws(s, 0))
    end = skip_ws(s, pos)
    if end != len(s):
        raise JSONDecodeError("Extra data", s, end)
    return value


def scan_deep(s: str, pos: int) -> tuple[Any, int]:
    """The JSON value that starts at `pos` in `s`, and where it ends: json's scanner, for any depth."""
    ws = skip_ws
    stack: list[list[Any]] = []  # [container, pending key] for each open object or array
    while True:
        # a value starts at pos
        c = s[pos : pos + 1]
        if c == "{":
            pos = ws(s, pos + 1)
            if s[pos : pos + 1] == "}":
                value: Any = {}
                pos += 1
            else:
                key, pos = _key(s, pos)
                stack.append([{}, key])
                continue
        elif c == "[":
            pos = ws(s, pos + 1)
            if s[pos : pos + 1] == "]":
                value = []
                pos += 1
            else:
                stack.append([[], None])
                continue
        elif c == '"':
            value, pos = scanstring(s, pos + 1)
        else:
            m = _NUMBER.match(s, pos)
            if m and m.end() > pos:
                integer, frac, exp = m.groups()
                value = float(integer + (frac or "") + (exp or "")) if frac or exp else int(integer)
                pos = m.end()
            else:
                for word, lit in _LITERALS:
                    if s.startswith(word, pos):
                        value = lit
                        pos += len(word)
                        break
                else:
                    raise JSONDecodeError("Expecting value", s, pos)
        # put the value in its container; close the containers that end here
        while True:
            if not stack:
                return value, pos
            top = stack[-1]
            container = top[0]
            is_obj = isinstance(container, dict)
            if is_obj:
                container[top[1]] = value
            else:
                container.append(value)
            pos = ws(s, pos)
            c = s[pos : pos + 1]
            if c == ",":
                pos = ws(s, pos + 1)
                if is_obj:
                    top[1], pos = _key(s, pos)
                break
            if c == ("}" if is_obj else "]"):
                pos += 1
                value = stack.pop()[0]
                continue
            raise JSONDecodeError("Expecting ',' delimiter", s, pos)


def _key(s: str, pos: int) -> tuple[str, int]:
    """An object's key and the ':' after it, from pos; returns (key, where its value starts)."""
    if s[pos : pos + 1] != '"':
        raise JSONDecodeError("Expecting property name enclosed in double quotes", s, pos)
    key, pos = scanstring(s, pos + 1)
    pos = skip_ws(s, pos)
    if s[pos : pos + 1] != ":":
        raise JSONDecodeError("Expecting ':' delimiter", s, pos)
    return key, skip_ws(s, pos + 1)


def skip_ws(s: str, pos: int) -> int:
    """Where the whitespace from pos ends (_WS matches anywhere, if only the empty string)."""
    m = _WS.match(s, pos)
    return m.end() if m else pos


def key_text(k: Any, ensure_ascii: bool) -> str:
    """A dict key as json writes it."""
    if isinstance(k, str):
        return encode_basestring_ascii(k) if ensure_ascii else encode_basestring(k)
    if k is True or k is False or k is None:
        return json.dumps(json.dumps(k))
    if isinstance(k, (int, float)):
        return '"' + json.dumps(k) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def iter_json(
    obj: Any,
    *,
    indent: int | None = None,
    ensure_ascii: bool = True,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    level: int = 0,
) -> Iterator[str]:
    """The chunks of json.dumps(obj, indent=..., ensure_ascii=..., sort_keys=..., separators=...),
    with no recursion. `level` is the nesting the value sits at (its indentation)."""
    item_sep, key_sep = separators or ((",", ": ") if indent is not None else (", ", ": "))

    def nl(lvl: int) -> str:
        return "" if indent is None else "\n" + " " * (indent * lvl)

    stack: list[list[Any]] = []  # [iterator, is_obj, level of its items, first]

    def open_(value: Any, lvl: int) -> str:
        if isinstance(value, dict):
            if not value:
                return "{}"
            items = sorted(value.items()) if sort_keys else value.items()
            stack.append([iter(items), True, lvl + 1, True])
            return "{"
        if isinstance(value, (list, tuple)):
            if not value:
                return "[]"
            stack.append([iter(value), False, lvl + 1, True])
            return "["
        return leaf(value, ensure_ascii)

    yield open_(obj, level)
    done = object()
    while stack:
        top = stack[-1]
        item: Any = next(top[0], done)
        if item is done:
            stack.pop()
            yield nl(top[2] - 1) + ("}" if top[1] else "]")
            continue
        head = ("" if top[3] else item_sep) + nl(top[2])
        top[3] = False
        if top[1]:
            k, item = item
            head += key_text(k, ensure_ascii) + key_sep
        yield head + open_(item, top[2])


def leaf(v: Any, ensure_ascii: bool) -> str:
    """A value that is not a list or dict, exactly as json writes it (without json.dumps's per-call set-up)."""
    t = type(v)
    if t is str:
        return encode_basestring_ascii(v) if ensure_ascii else encode_basestring(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is int:
        return int.__repr__(v)
    if t is float:
        if v != v:
            return "NaN"
        if v in (_INF, -_INF):
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    return json.dumps(v, ensure_ascii=ensure_ascii)


_INF = float("inf")


_SCALARS = (str, int, float, type(None), bool)


def _indented(v: Any, level: int, indent: int, ea: bool, out: list[str]) -> None:
    # scalars in a container are written here, not by a call each: most values are scalars
    t = type(v)
    enc = encode_basestring_ascii if ea else encode_basestring
    if t is dict:
        if not v:
            out.append("{}")
            return
        pad = "\n" + " " * (indent * (level + 1))
        sep = "{" + pad
        for k, x in v.items():
            head = sep + enc(k) + ": " if type(k) is str else sep + key_text(k, ea) + ": "
            sep = "," + pad
            tx = type(x)
            if tx is str:
                out.append(head + enc(x))
            elif tx in _SCALARS:
                out.append(head + leaf(x, ea))
            else:
                out.append(head)
                _indented(x, level + 1, indent, ea, out)
        out.append("\n" + " " * (indent * level) + "}")
    elif t is list or t is tuple:
        if not v:
            out.append("[]")
            return
        pad = "\n" + " " * (indent * (level + 1))
        sep = "[" + pad
        for x in v:
            tx = type(x)
            if tx is str:
                out.append(sep + enc(x))
            elif tx in _SCALARS:
                out.append(sep + leaf(x, ea))
            else:
                out.append(sep)
                _indented(x, level + 1, indent, ea, out)
            sep = "," + pad
        out.append("\n" + " " * (indent * level) + "]")
    elif isinstance(v, (dict, list, tuple)):  # subclasses: as json would
        out.append(json.dumps(v, indent=indent, ensure_ascii=ea).replace("\n", "\n" + " " * (indent * level)))
    else:
        out.append(leaf(v, ea))


def dumps_at(value: Any, level: int, *, indent: int | None, ensure_ascii: bool) -> str:
    """json.dumps(value, indent=indent, ensure_ascii=...) as it reads inside a document, nested
    `level` deep (its lines indented to match). Values nested beyond the recursion limit are
    written by iter_json."""
    if indent is None:
        return json.dumps(value, ensure_ascii=ensure_ascii)
    out: list[str] = []
    try:
        _indented(value, level, indent, ensure_ascii, out)
    except RecursionError:
        return "".join(iter_json(value, indent=indent, ensure_ascii=ensure_ascii, level=level))
    return "".join(out)


class Sink:
    """Chunks of a JSON document to a text file, buffered. Characters a terminal could act
    on, and lone surrogates (not valid UTF-8), are written as JSON \\u escapes
    (loom.textsafe.inert_json): they can only sit inside strings, so the data is exact."""

    ensure_ascii = False  # the writers' setting for json's own escaping (C0 controls, quotes)

    def __init__(self, fh: IO[str]):
        self.fh = fh
        self._buf: list[str] = []
        self._size = 0

    def write(self, chunk: str) -> None:
        if not chunk.isascii():
            chunk = inert_json(chunk)
        self._buf.append(chunk)
        self._size += len(chunk)
        if self._size > 1 << 16:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self.fh.write("".join(self._buf))
            self._buf.clear()
            self._size = 0
