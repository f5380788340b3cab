"""A JSON file read a piece at a time, so that a big file is never held whole.

The importers walk the big parts of a file (loom JSON's list of nodes, the
original loom's tree of nodes and its model responses) by hand with `Reader`,
and hand each small value (one node's fields, one response) to json's own C
scanner: the same values json.loads gives (lone surrogates, NaN, big integers,
the last of duplicate keys), at its speed, with only a window of the file in
memory. ijson was tried first: its fast backend turns lone surrogates into
"?", and refuses NaN and Infinity, which loom's exports can hold.

A value nested deeper than the C scanner can go is read by jsonstream's
iterative scanner. A file that is not valid JSON raises `Broken`; the caller
reads the file whole to say where (json's own message), which costs nothing
that matters for a file that cannot be imported anyway."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from json.decoder import JSONDecodeError
from typing import IO, Any

from .jsonstream import scan_deep, scanstring, skip_ws

#: the C scanner json.loads uses: (text, where a value starts) -> (the value, where it ends); raises
#: StopIteration where no value starts. Looked up by name because typeshed's JSONDecoder leaves it out.
_scan: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]

# the usual case in one match each (anything else, or a piece that ends inside it, goes the long way):
# a key without escapes and the ':' after it; the ',' or closing bracket after a value
_KEY = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
_NEXT = re.compile(r"[ \t\n\r]*([,\]}])")


class Broken(Exception):
    """The file is not valid JSON (or not UTF-8) somewhere from here."""


class Reader:
    """Walk a JSON text file: `peek` the next character, `items` of an array, `members` of an
    object, `value` for a whole value. Only the part of the file not yet walked past is held."""

    CHUNK = 1 << 20
    MARGIN = 1 << 16  # most values (a node's field, a model response) are shorter

    def __init__(self, fh: IO[str]):
        self.fh = fh
        self.buf = ""
        self.pos = 0
        self.eof = False

    def _more(self, want: int = 0) -> bool:
        """Read another piece (at least `want` more characters if the file has them); False at the end."""
        if self.eof:
            return False
        if self.pos > len(self.buf) // 2:  # drop what has been walked past
            self.buf = self.buf[self.pos :]
            self.pos = 0
        try:
            piece = self.fh.read(max(self.CHUNK, want))
        except UnicodeDecodeError:
            raise Broken() from None
        if not piece:
            self.eof = True
            return False
        self.buf += piece
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            self.pos = skip_ws(self.buf, self.pos)
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos : self.pos + 1]

    def take(self, ch: str) -> None:
        if self.peek() != ch:
            raise Broken()
        self.pos += 1

    def value(self) -> Any:
        """The next whole value."""
        if not self.eof and len(self.buf) - self.pos < self.MARGIN:
            self._more()  # read on before the piece runs out: a value cut off costs a failed scan and an error
        if self.pos >= len(self.buf) or self.buf[self.pos] in " \t\n\r":
            self.peek()
        while True:
            try:
                try:
                    value, end = _scan(self.buf, self.pos)
                except RecursionError:
                    value, end = scan_deep(self.buf, self.pos)
            except (JSONDecodeError, StopIteration):
                if self._more(len(self.buf)):  # it may only be cut off by the end of the piece
                    continue
                raise Broken() from None
            if end == len(self.buf) and self._more():  # a number may go on in the next piece
                continue
            self.pos = end
            return value

    def _key(self) -> str:
        if self.peek() != '"':
            raise Broken()
        while True:
            try:
                key, end = scanstring(self.buf, self.pos + 1)
            except JSONDecodeError:
                if self._more(len(self.buf)):
                    continue
                raise Broken() from None
            self.pos = end
            self.take(":")
            return key

    def items(self) -> Iterator[int]:
        """Walk an array: yields each item's index with the reader at the item, which the caller
        must read (`value`, or `items`/`members` for a container) before asking for the next."""
        self.take("[")
        if self.peek() == "]":
            self.pos += 1
            return
        i = 0
        while True:
            yield i
            i += 1
            c = self._next()
            if c == "]":
                return
            if c != ",":
                raise Broken()

    def members(self) -> Iterator[str]:
        """Walk an object: yields each key with the reader at its value, which the caller must read."""
        self.take("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            yield self._member_key()
            c = self._next()
            if c == "}":
                return
            if c != ",":
                raise Broken()

    def fields(self, out: dict[str, Any], stop: str, started: bool) -> bool:
        """Read an object's members into `out` until the one named `stop` (True: the reader is at
        its value, which the caller must read) or the object's end (False: past its '}').
        `started`: the '{' (and perhaps members) were read already, so a ',' or '}' comes next.
        `members` a member at a time, in one call."""
        if not started:
            self.take("{")
            if self.peek() == "}":
                self.pos += 1
                return False
        else:
            c = self._next()
            if c == "}":
                return False
            if c != ",":
                raise Broken()
        while True:
            key = self._member_key()
            if key == stop:
                return True
            out[key] = self.value()
            c = self._next()
            if c == "}":
                return False
            if c != ",":
                raise Broken()

    def _member_key(self) -> str:
        """A member's key and past the ':' after it (the usual key in one match)."""
        m = _KEY.match(self.buf, self.pos)
        if m is None:
            return self._key()
        self.pos = m.end()
        return m.group(1)

    def _next(self) -> str:
        """The character after a value (',' or a closing bracket, if the file is right), and past it."""
        m = _NEXT.match(self.buf, self.pos)
        if m is not None:
            self.pos = m.end()
            return m.group(1)
        c = self.peek()
        self.pos += 1
        return c

    def end(self) -> None:
        """Nothing but white space may follow the document."""
        if self.peek() != "":
            raise Broken()
