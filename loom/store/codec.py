"""Compact binary form of a node's tokens (one BLOB per node).

Layout (little-endian), version 1:
    u8 version, u8 flags, u32 n, u8 k
    u32[n]   char length of each token's text in the node text
    f32[n]   chosen logprob (NaN = unknown)
    ID[n]    chosen token id        (ID = u16 or u32, flag 2)
    ID[n*k]  alternative ids, padded with the max value
    f16[n*k] alternative logprobs
Token texts come back by slicing the node text; alternative texts come from
the session's `vocab` table (real ids for local models, session-interned ids for
API models, flag 4). About 50 bytes a token with 10 alternatives for vocabularies
under 65,536.

Version 2 is the same layout with everything after the header deflated (zlib),
written when that is smaller: a model's top-k ids and sorted logprobs repeat
enough to come down to about 30 bytes a token.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
import zlib

import numpy as np

from ..tree import Alternative, Token

VERSION = 1
VERSION_DEFLATED = 2
F_RAW = 1
F_WIDE = 2
F_INTERNED = 4  # ids were assigned by the session, not by the model's tokenizer
_HEAD = struct.Struct("<BBIB")


def encode(tokens: list[Token], ids: list[int], alt_ids: list[list[int]], *, interned: bool) -> bytes:
    n = len(tokens)
    k = max((len(a) for a in alt_ids), default=0)
    wide = max([*ids, *(i for a in alt_ids for i in a)], default=0) >= 0xFFFF
    dt = np.uint32 if wide else np.uint16
    pad = np.iinfo(dt).max
    lens = np.array([len(t.text) for t in tokens], dtype=np.uint32)
    lps = np.array([np.nan if t.logprob is None else t.logprob for t in tokens], dtype=np.float32)
    top_ids = np.full((n, k), pad, dtype=dt)
    top_lps = np.full((n, k), -np.inf, dtype=np.float16)
    for row, (tok, aids) in enumerate(zip(tokens, alt_ids)):
        top_ids[row, : len(aids)] = aids
        top_lps[row, : len(aids)] = [a.logprob for a in tok.alternatives]
    flags = (F_RAW if all(t.raw for t in tokens) else 0) | (F_WIDE if wide else 0) | (F_INTERNED if interned else 0)
    body = b"".join([
        lens.tobytes(), lps.tobytes(), np.array(ids, dtype=dt).tobytes(), top_ids.tobytes(), top_lps.tobytes(),
    ])
    packed = zlib.compress(body, 6)
    if len(packed) < len(body):
        return _HEAD.pack(VERSION_DEFLATED, flags, n, k) + packed
    return _HEAD.pack(VERSION, flags, n, k) + body


def decode(blob: bytes, text: str, vocab) -> list[Token]:
    """`vocab(ids) -> {id: text}` looks up alternative texts."""
    version, flags, n, k = _HEAD.unpack_from(blob)
    if version == VERSION_DEFLATED:
        blob = blob[: _HEAD.size] + zlib.decompress(blob[_HEAD.size :])
    elif version != VERSION:
        raise ValueError(f"token data version {version} is not known to this loom")
    dt = np.uint32 if flags & F_WIDE else np.uint16
    size = np.dtype(dt).itemsize
    off = _HEAD.size
    lens = np.frombuffer(blob, np.uint32, n, off); off += 4 * n
    lps = np.frombuffer(blob, np.float32, n, off); off += 4 * n
    ids = np.frombuffer(blob, dt, n, off); off += size * n
    top_ids = np.frombuffer(blob, dt, n * k, off).reshape(n, k); off += size * n * k
    top_lps = np.frombuffer(blob, np.float16, n * k, off).reshape(n, k)
    pad = np.iinfo(dt).max
    names = vocab(sorted(set(np.unique(top_ids).tolist()) - {pad}))
    interned = bool(flags & F_INTERNED)
    raw = bool(flags & F_RAW)
    # plain Python lists: iterating numpy scalars one by one is many times slower
    alt_rows = top_ids.tolist()
    alt_lp_rows = top_lps.astype(np.float64).tolist()
    lens_l, lps_l, ids_l = lens.tolist(), lps.astype(np.float64).tolist(), ids.tolist()
    out: list[Token] = []
    pos = 0
    for row in range(n):
        alts = LazyAlternatives(alt_rows[row], alt_lp_rows[row], names, interned, pad)
        lp = lps_l[row]
        end = pos + lens_l[row]
        out.append(Token(
            text=text[pos:end], logprob=None if lp != lp else lp,
            token_id=None if interned else ids_l[row], alternatives=alts, raw=raw,
        ))
        pos = end
    return out


class LazyAlternatives(Sequence):
    """A token's alternatives, built as objects only when first read: opening a
    long path decodes every token, but the inspector shows one at a time.
    Behaves as the tuple it stands for (indexing, slicing, ==, hash)."""

    __slots__ = ("_ids", "_lps", "_names", "_interned", "_pad", "_items")

    def __init__(self, ids: list[int], lps: list[float], names: dict[int, str], interned: bool, pad: int):
        self._ids, self._lps, self._names, self._interned, self._pad = ids, lps, names, interned, pad
        self._items: tuple[Alternative, ...] | None = None

    def _tuple(self) -> tuple[Alternative, ...]:
        if self._items is None:
            self._items = tuple(
                Alternative(self._names.get(i, "?"), lp, None if self._interned else i)
                for i, lp in zip(self._ids, self._lps) if i != self._pad
            )
        return self._items

    def __getitem__(self, index):
        return self._tuple()[index]

    def __len__(self) -> int:
        return len(self._ids) - self._ids.count(self._pad)

    def __eq__(self, other) -> bool:
        return isinstance(other, (tuple, Sequence)) and not isinstance(other, str) and self._tuple() == tuple(other)

    def __hash__(self) -> int:
        return hash(self._tuple())

    def __repr__(self) -> str:
        return repr(self._tuple())
