"""Reading the logprobs that OpenAI-compatible servers send, in every dialect
met in the wild, into loom Tokens whose texts add up to the generated text.

Dialects (one `choice["logprobs"]` each):
- legacy (OpenAI, vLLM, Together on /v1/completions): `tokens`, `token_logprobs`,
  `top_logprobs` (a dict per position, or a list of {token, logprob}),
  `text_offset` (ignored: some servers count it from the start of the prompt);
- content (chat completions everywhere; llama.cpp and Ollama also on
  /v1/completions): `content: [{token, logprob, bytes, top_logprobs: [...]}]`;
- None: the server gives no logprobs.

A token may be part of a multi-byte character: OpenAI writes it as
`bytes:\\xe2\\x80`, chat servers add a `bytes` array, others just send U+FFFD.
Bytes are reassembled with an incremental UTF-8 decoder; where only U+FFFD is
known, the text the server streamed fills the gap (see TextAligner)."""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

from ..tokenbytes import display_text, token_bytes
from ..tree import Alternative, LazyAlternatives, Token


@dataclass(frozen=True)
class WireToken:
    """One position as the server described it, before text reassembly."""

    text: str
    data: bytes | None  # the token's exact bytes, where the server told them
    logprob: float | None
    top: tuple[tuple[str, bytes | None, float, int | None], ...]  # (text, bytes, logprob, token id)
    token_id: int | None = None  # where the server says which token it is (llama.cpp's "id")


class LogprobsFormatError(ValueError):
    """The logprobs object has a shape no known server sends."""


def _logprob(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(min(value, 0.0))
    return None


def parse_logprobs(lp: Any) -> list[WireToken] | None:
    """The positions in one choice's `logprobs` (None: the server sent none)."""
    if lp is None:
        return None
    if not isinstance(lp, dict):
        raise LogprobsFormatError(f"logprobs is a {type(lp).__name__}, not an object")
    if isinstance(lp.get("content"), list):
        return [_content_token(item) for item in lp["content"]]
    if lp.get("content") is None and "tokens" not in lp:
        # {"content": null} (chat with logprobs refused) or {} (nothing yet)
        return None
    tokens = lp.get("tokens") or []
    if not isinstance(tokens, list):
        raise LogprobsFormatError("logprobs.tokens is not a list")
    chosen = lp.get("token_logprobs") or [None] * len(tokens)
    tops = lp.get("top_logprobs") or [None] * len(tokens)
    for name, value in (("token_logprobs", chosen), ("top_logprobs", tops)):
        if not isinstance(value, list):
            raise LogprobsFormatError(f"logprobs.{name} is a {type(value).__name__}, not a list")
    out = []
    for i, text in enumerate(tokens):
        text = str(text)
        top = _legacy_top(tops[i] if i < len(tops) else None)
        logprob = _logprob(chosen[i] if i < len(chosen) else None)
        if logprob is None:  # some servers leave token_logprobs out but list the token in top
            logprob = next((lp_ for t, _, lp_, _ in top if t == text), None)
        out.append(WireToken(text, token_bytes(text), logprob, top))
    return out


def _token_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _legacy_top(top: Any) -> tuple[tuple[str, bytes | None, float, int | None], ...]:
    if isinstance(top, dict):
        items = [(str(t), None, v, None) for t, v in top.items()]
    elif isinstance(top, list):
        items = [
            (str(e.get("token", "")), e.get("bytes"), e.get("logprob"), e.get("id")) for e in top if isinstance(e, dict)
        ]
    else:
        return ()
    return _sorted_top(items)


def _sorted_top(items: Iterable[tuple[str, Any, Any, Any]]) -> tuple[tuple[str, bytes | None, float, int | None], ...]:
    """(text, bytes, logprob, id) as the server sent them: checked, without repeats, most likely first."""
    seen: set[str | int] = set()
    out: list[tuple[str, bytes | None, float, int | None]] = []
    for text, data, raw_value, raw_tid in items:
        value = _logprob(raw_value)
        tid = _token_id(raw_tid)
        key = text if tid is None else tid  # with ids, two tokens may share a text
        if value is None or key in seen:
            continue
        seen.add(key)
        out.append((text, token_bytes(text, data), value, tid))
    out.sort(key=lambda x: -x[2])
    return tuple(out)


def _content_token(item: Any) -> WireToken:
    if not isinstance(item, dict):
        raise LogprobsFormatError("logprobs.content holds something that is not an object")
    text = str(item.get("token", ""))
    top_raw = item.get("top_logprobs") or []
    top = _sorted_top(
        (str(e.get("token", "")), e.get("bytes"), e.get("logprob"), e.get("id")) for e in top_raw if isinstance(e, dict)
    )
    logprob = _logprob(item.get("logprob"))
    if logprob is None:
        logprob = next((v for t, _, v, _ in top if t == text), None)
    return WireToken(text, token_bytes(text, item.get("bytes")), logprob, top, _token_id(item.get("id")))


class TextAligner:
    """Turns one branch's stream of WireTokens (plus the text the server sent
    with them) into Tokens whose texts add up to that text, never showing
    broken bytes.

    A token that ends inside a character gets text "" and the token that
    completes the character gets the whole character, as in the local backend.
    A token known only as U+FFFD is held back until the server's text shows
    what it was."""

    def __init__(self, raw: bool = True):
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self.text = ""  # the server's text for this branch so far
        self.used = 0  # how much of self.text the emitted tokens cover
        self.held: list[tuple[WireToken, tuple[Alternative, ...]]] = []  # tokens waiting for the text to settle
        self.bare = ""  # streamed text that came without logprobs, held one chunk: they may follow it

    def pending(self) -> bytes:
        return self.decoder.getstate()[0]

    def take(self, wire: list[WireToken] | None, text: str, hold: bool) -> tuple[list[Token], bool]:
        """One chunk of a branch: its tokens, and whether text came without logprobs.

        Ollama may stream a token's text in one chunk and its logprobs in the
        next, with empty content; so with `hold` (a stream, before its last
        chunk) text without logprobs waits one chunk for them instead of
        becoming a token with no probability at once."""
        out: list[Token] = []
        came_bare = False
        if self.bare and (not wire or text):  # what came next was not its logprobs
            out += plain_tokens(self.bare, self.raw)
            came_bare, self.bare = True, ""
        if wire is None:
            if hold:
                self.bare = text
            elif text:
                out += plain_tokens(text, self.raw)
                came_bare = True
            return out, came_bare
        if self.bare:  # logprobs after their text, with no text of their own
            text, self.bare = self.bare, ""
        return out + self.feed(wire, text), came_bare

    def release(self) -> list[Token]:
        """At a stream's end without a finish reason: the text still held, as tokens without logprobs."""
        out = plain_tokens(self.bare, self.raw)
        self.bare = ""
        return out

    def feed(self, wire: list[WireToken], text: str | None) -> list[Token]:
        """Add the tokens of one chunk (or a whole response) and the text that came with them."""
        if text:
            self.text += text
        out: list[Token] = []
        for w in wire:
            if w.data is None:
                # only U+FFFD known: the bytes of this piece are lost; the text will tell
                self.decoder.reset()
                self.held.append((w, self._alternatives(w)))
                continue
            alts = self._alternatives(w)  # before decoding: candidates may complete the open character too
            piece = self.decoder.decode(w.data)
            if self.held:
                at = self.text.find(piece, self.used) if piece else -1
                if at >= 0:
                    gap = self.text[self.used : at]
                    out += self._release(gap)
                    self.used = at
                else:
                    self.held.append((w, alts))
                    continue
            if piece:
                # skip what the server's text has and the bytes do not (U+FFFD for invalid bytes)
                at = self.text.find(piece, self.used, self.used + len(piece) + 4)
                if at >= 0:
                    self.used = at + len(piece)
            out.append(self._token(w, piece, alts))
        return out

    def finish(self) -> list[Token]:
        """At the end of the branch: give held tokens the text not yet covered."""
        out = self._release(self.text[self.used :]) if self.held else []
        self.used = len(self.text)
        return out

    def _release(self, gap: str) -> list[Token]:
        held, self.held = self.held, []
        out = []
        for i, (w, alts) in enumerate(held):
            # the last held token completes the character(s): it takes the recovered text
            out.append(self._token(w, gap if i == len(held) - 1 else "", alts))
        return out

    def _token(self, w: WireToken, text: str, alts: tuple[Alternative, ...]) -> Token:
        return Token(text, w.logprob, w.token_id, alts, self.raw)

    def _alternatives(self, w: WireToken) -> tuple[Alternative, ...]:
        out = []
        pending = self.pending()
        for text, data, value, tid in w.top:
            out.append(Alternative(display_text(text, data, pending), value, tid))
        return tuple(out)


def _plain(text: Any) -> bool:
    """A token text that is whole characters as it stands (its display text is itself)."""
    if type(text) is not str or text.startswith("bytes:") or "\ufffd" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate
        return False


def _all_plain(top: dict[str, Any]) -> bool:
    """Whether every text of a top_logprobs dict is whole characters and every value a finite float."""
    if not all(type(v) is float for v in top.values()) or not all(type(t) is str for t in top):
        return False
    values = top.values()
    if not all(-math.inf < v < math.inf for v in values):  # NaN fails too
        return False
    texts = "".join(top)
    if "bytes:" in texts:
        return False
    if texts.isascii():
        return True
    return "\ufffd" not in texts and _plain(texts)


class ServerAlternatives(LazyAlternatives):
    """A token's alternatives as the server sent them (legacy `top_logprobs`, one
    dict), built as objects only when first read: a report of thousands of
    samples keeps only each sample's text and logprobs. Behaves as the tuple it
    stands for (indexing, slicing, ==, hash), with the same Alternatives the
    general path makes (for a token whose bytes leave no character open)."""

    __slots__ = ("_top", "_items")

    def __init__(self, top: dict[str, Any]):
        self._top = top
        self._items: tuple[Alternative, ...] | None = None

    def _tuple(self) -> tuple[Alternative, ...]:
        if self._items is None:
            top = self._top
            if _all_plain(top):
                # the common case: texts that are whole characters, finite logprobs; sorted (stably) by logprob
                items = sorted(top.items(), key=itemgetter(1), reverse=True)
                self._items = tuple(Alternative(t, v if v < 0.0 else 0.0, None) for t, v in items)
            else:
                self._items = tuple(Alternative(display_text(t, d), v, tid) for t, d, v, tid in _legacy_top(top))
        return self._items


class ServerTokens(Sequence[Token]):
    """The tokens of one legacy-dialect reply (see plain_legacy_tokens), built as
    Token objects only when read; `text` and `logprobs` need none of them."""

    __slots__ = ("text", "_texts", "_chosen", "_tops", "_ids", "_raw", "_items")

    def __init__(
        self,
        text: str,
        texts: list[str],
        chosen: list[float],
        tops: list[dict[str, Any] | None] | None,
        ids: list[int] | None,
        raw: bool,
    ):
        self.text = text
        self._texts, self._chosen, self._tops, self._ids, self._raw = texts, chosen, tops, ids, raw
        self._items: list[Token] | None = None

    @property
    def logprobs(self) -> list[float]:
        return [v if v < 0.0 else 0.0 for v in self._chosen]

    def _list(self) -> list[Token]:
        if self._items is None:
            raw, ids, tops = self._raw, self._ids, self._tops or repeat(None)
            self._items = [
                Token(
                    t,
                    v if v < 0.0 else 0.0,
                    ids[i] if ids is not None else None,
                    ServerAlternatives(top) if top else (),  # a lazy tuple
                    raw,
                )
                for i, (t, v, top) in enumerate(zip(self._texts, self._chosen, tops))
            ]
        return self._items

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._texts)

    def __iter__(self) -> Iterator[Token]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and self._list() == list(other)

    __hash__ = None  # type: ignore[assignment] # a list of tokens: compared, not hashed

    def __repr__(self) -> str:
        return repr(self._list())


def plain_legacy_tokens(lp: Any, text: str | None, aligner: TextAligner, ids: Any = None) -> ServerTokens | None:
    """The common case of the legacy dialect, quickly: every sampled token a whole
    character sequence (no `bytes:` piece, no U+FFFD) with a finite logprob, their
    texts adding up to the text sent, and nothing held or open in `aligner`. The
    same Tokens as parse_logprobs + aligner.feed give; None when the case is not
    this common one (the general path then reads it)."""
    if not isinstance(lp, dict) or aligner.held or aligner.bare or aligner.pending():
        return None
    tokens, chosen, tops = lp.get("tokens"), lp.get("token_logprobs"), lp.get("top_logprobs")
    if type(tokens) is not list or type(chosen) is not list or len(chosen) != len(tokens):
        return None
    if tops is not None and (type(tops) is not list or len(tops) != len(tokens)):
        return None
    if not isinstance(ids, list) or len(ids) != len(tokens) or not all(type(t) is int for t in ids):
        ids = None
    if not all(type(t) is str for t in tokens):
        return None
    joined = "".join(tokens)
    if joined != (text or "") or "\ufffd" in joined or "bytes:" in joined:
        return None
    if not joined.isascii():
        try:
            joined.encode("utf-8")  # a lone surrogate: the general path decides
        except UnicodeEncodeError:
            return None
    if not all(type(v) is float and -math.inf < v < math.inf for v in chosen):
        return None
    if tops is not None and not all(top is None or type(top) is dict for top in tops):
        return None
    aligner.text += joined
    aligner.used = len(aligner.text)
    return ServerTokens(joined, tokens, chosen, tops, ids, aligner.raw)


def plain_tokens(text: str, raw: bool = True) -> list[Token]:
    """Tokens for text that came without logprobs: one uncolored piece per chunk."""
    return [Token(text, None, None, (), raw)] if text else []
