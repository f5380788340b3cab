"""Compact binary form of a node's tokens (one BLOB per node).

Version 3 (written now), little-endian: a header `u8 version, u8 flags, u32 n,
u8 k`, then, deflated (zlib) as one body:
    u32[n]   char length of each token's text in the node text
    L[n]     chosen logprob
    ID[n]    chosen token id              (ID = u16 or u32, flag 2)
    ID[k][n] alternative ids, by rank, padded with ID's max value
    L[k][n]  alternative logprobs, by rank, each as the difference from the rank above
Each array is split into byte planes (all low bytes, then the next...), which
zlib packs well. L is a logprob in fixed point: round(-logprob / 1e-4) as u32,
so chosen tokens and alternatives alike come back within 5e-5 nats (-0.9 is
-0.9); 0xFFFFFFFF is unknown (None) and 0xFFFFFFFE is -inf; below -429,496
nats is held at that. About 39 bytes a token with 10 alternatives from the
demo model (bench/storage.py measures it).

Versions 1 and 2 (earlier looms; still read): the arrays one after another,
plain or deflated, chosen logprobs as f32 and alternatives as f16 (about three
significant digits: -0.9 came back as -0.8999). They are read rounded to the
1e-4 step, as version 3 would store them.

Token texts come back by slicing the node text; alternative texts come from
the session's `vocab` table (real ids for local models and servers that name
their ids, session-interned ids otherwise, flag 4; flag 8 with it: the chosen
ids are still the model's own, for servers that name only those).
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..tree import Alternative, LazyAlternatives, Token

# numpy is imported where it is used: a session opens, and the app shows a path, without it
# (importing it takes a tenth of a second; a node's tokens decode as fast without it, see decode)
if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    #: the id arrays' element type: u16, or u32 with F_WIDE
    IdType = type[np.uint16] | type[np.uint32]
    #: what a body holds: char lengths, chosen logprobs, chosen ids, (n, k) alternative ids and logprobs
    Arrays = tuple[NDArray[np.uint32], NDArray[np.float64], NDArray[Any], NDArray[Any], NDArray[np.float64]]

VERSION = 1
VERSION_DEFLATED = 2
VERSION_FIXED = 3
F_RAW = 1
F_WIDE = 2
F_INTERNED = 4  # ids were assigned by the session, not by the model's tokenizer
F_CHOSEN_IDS = 8  # with F_INTERNED: the chosen ids are still the model's own (a server that names only those: vLLM)
_HEAD = struct.Struct("<BBIB")
K_OFFSET = 6  # where the header keeps k, the most alternatives of any token (every version)
STEP = 1e-4  # nats: the fixed-point step of every stored logprob
SCALE = 10_000  # 1 / STEP, to divide by (exact for -0.9 and friends)
_UNKNOWN, _NEG_INF, _FLOOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD

#: `vocab(ids) -> {id: text}`: the session's lookup of alternative texts
Vocab = Callable[[list[int]], dict[int, str]]


def _fixed(values: Sequence[float | None] | NDArray[np.floating[Any]]) -> NDArray[np.uint32]:
    """Logprobs (None for unknown) in fixed point, as u32."""
    import numpy as np

    a = np.array(values, dtype=np.float64)  # None becomes NaN
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.clip(np.rint(-a * SCALE), 0, _FLOOR)  # rint rounds half to even, as round() does
    q = np.where(np.isnan(a), _UNKNOWN, np.where(np.isneginf(a), _NEG_INF, q))
    return q.astype(np.uint32)


def _planes(a: NDArray[Any]) -> bytes:
    """The array's bytes split into planes: every element's first byte, then every second..."""
    import numpy as np

    a = np.ascontiguousarray(a)
    return a.view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def _unplanes(
    buf: bytes, off: int, dt: type[np.unsignedinteger[Any]], shape: tuple[int, ...]
) -> tuple[NDArray[Any], int]:
    import numpy as np

    size = np.dtype(dt).itemsize
    count = int(np.prod(shape))
    raw = np.frombuffer(buf, np.uint8, count * size, off).reshape(size, count)
    return np.ascontiguousarray(raw.T).view(dt).reshape(shape), off + count * size


SMALL = 256  # tokens x alternatives below which plain Python beats numpy's per-call cost
# ...and below which decode() takes plain Python while numpy is not imported yet: a 64-token
# node with 10 alternatives decodes as fast either way (0.5 ms), and a long path's end shows
# without importing numpy (bench/startup.py)
SMALL_WITHOUT_NUMPY = 4096


def encode(
    tokens: list[Token], ids: list[int], alt_ids: list[list[int]], *, interned: bool, chosen_ids: bool = False
) -> bytes:
    """`interned`: the ids are the session's; `chosen_ids`: but `ids` (the chosen
    tokens') are the model's own, so a context can give them back as they were."""
    k = max(map(len, alt_ids), default=0)
    top = max((max(a) for a in alt_ids if a), default=0)
    wide = max(top, max(ids, default=0)) >= 0xFFFF
    flags = (
        (F_RAW if all([t.raw for t in tokens]) else 0)
        | (F_WIDE if wide else 0)
        | (F_INTERNED if interned else 0)
        | (F_CHOSEN_IDS if interned and chosen_ids else 0)
    )
    make = _body_small if len(tokens) * max(k, 1) < SMALL else _body_numpy
    body = make(tokens, ids, alt_ids, k, wide)
    return _HEAD.pack(VERSION_FIXED, flags, len(tokens), k) + zlib.compress(body, 6)


def _fixed_one(logprob: float | None) -> int:
    if logprob is None:
        return _UNKNOWN
    try:
        q = round(-logprob * SCALE)
    except ValueError:  # NaN
        return _UNKNOWN
    except OverflowError:  # -inf (or +inf)
        return _NEG_INF if logprob < 0 else 0
    return 0 if q < 0 else (q if q < _FLOOR else _FLOOR)


#: array's type code for an unsigned integer of 2 and of 4 bytes
_CODE = {n: c for c in "LIH" if (n := array(c).itemsize) in (2, 4)}


def _planes_small(values: list[int], size: int) -> bytes:
    try:  # the machine's bytes of each value, then every size-th byte of them
        a = array(_CODE[size], values)
    except OverflowError:  # (a value that does not fit: its low bytes, as numpy's astype keeps)
        return b"".join(bytes([(v >> (8 * j)) & 0xFF for v in values]) for j in range(size))
    if sys.byteorder == "big":
        a.byteswap()
    raw = a.tobytes()
    return b"".join([raw[j::size] for j in range(size)])


def _fixed_list(logprobs: list[float | None]) -> list[int]:
    """[_fixed_one(x) for x in logprobs], with the usual case (a finite logprob above the floor) inline."""
    return [round(-x * SCALE) if x is not None and -429_496.0 < x <= 0.0 else _fixed_one(x) for x in logprobs]


def _body_small(tokens: list[Token], ids: list[int], alt_ids: list[list[int]], k: int, wide: bool) -> bytes:
    """The version-3 body in plain Python: the same bytes as _body_numpy (a test checks)."""
    size, pad = (4, 0xFFFFFFFF) if wide else (2, 0xFFFF)
    n = len(tokens)
    # by rank, then token, as the (k, n) arrays of _body_numpy: token j's rank r at r * n + j
    rank_ids = [pad] * (n * k)
    rank_deltas = [0] * (n * k)
    for j, tok in enumerate(tokens):
        above = 0
        at = j
        for alt, i in zip(tok.alternatives, alt_ids[j]):
            x = alt.logprob
            q = round(-x * SCALE) if x is not None and -429_496.0 < x <= 0.0 else _fixed_one(x)  # (_fixed_list)
            rank_ids[at] = i
            rank_deltas[at] = (q - above) & 0xFFFFFFFF  # the difference from the rank above, modulo 2**32
            above = q
            at += n
        if at < n * k:  # the rank below its last: back to 0
            rank_deltas[at] = -above & 0xFFFFFFFF
    return b"".join(
        [
            _planes_small([len(t.text) for t in tokens], 4),
            _planes_small(_fixed_list([t.logprob for t in tokens]), 4),
            _planes_small(ids, size),
            _planes_small(rank_ids, size),
            _planes_small(rank_deltas, 4),
        ]
    )


def _body_numpy(tokens: list[Token], ids: list[int], alt_ids: list[list[int]], k: int, wide: bool) -> bytes:
    import numpy as np

    n = len(tokens)
    counts = [len(a) for a in alt_ids]
    flat_ids = [i for a in alt_ids for i in a]
    dt = np.uint32 if wide else np.uint16
    pad = np.iinfo(dt).max
    lens = np.array([len(t.text) for t in tokens], dtype=np.uint32)
    lps = _fixed([t.logprob for t in tokens])
    top_ids = np.full((n, k), pad, dtype=dt)
    top_lps = np.zeros((n, k), dtype=np.int64)
    if flat_ids:
        used = np.arange(k) < np.array(counts)[:, None]  # row-major, as the alternatives come
        top_ids[used] = flat_ids
        top_lps[used] = _fixed([a.logprob for t in tokens for a in t.alternatives])
    # by rank, as differences (modulo 2**32): sorted alternatives give small numbers
    deltas = top_lps.copy()
    deltas[:, 1:] -= top_lps[:, :-1]
    deltas = (deltas % (1 << 32)).astype(np.uint32)
    return b"".join(
        [_planes(lens), _planes(lps), _planes(np.array(ids, dtype=dt)), _planes(top_ids.T), _planes(deltas.T)]
    )


def _arrays_v3(blob: bytes, n: int, k: int, dt: IdType) -> Arrays:
    import numpy as np

    body = zlib.decompress(blob[_HEAD.size :])
    lens, off = _unplanes(body, 0, np.uint32, (n,))
    lps, off = _unplanes(body, off, np.uint32, (n,))
    ids, off = _unplanes(body, off, dt, (n,))
    top_ids, off = _unplanes(body, off, dt, (k, n))
    deltas, off = _unplanes(body, off, np.uint32, (k, n))
    fixed = np.cumsum(deltas.T, axis=1, dtype=np.uint32)  # wraps back modulo 2**32
    return lens, _value(lps), ids, top_ids.T, _value(fixed)


def _unplanes_small(body: bytes, off: int, size: int, count: int) -> tuple[list[int], int]:
    """_unplanes in plain Python, as a list: the planes put back together, read little-endian."""
    end = off + size * count
    raw = bytearray(size * count)
    for j in range(size):
        raw[j::size] = body[off + j * count : off + (j + 1) * count]
    return list(struct.unpack(f"<{count}{'I' if size == 4 else 'H'}", raw)), end


def _lp_small(q: int) -> float:
    return math.nan if q == _UNKNOWN else -math.inf if q == _NEG_INF else -(q / SCALE)


def _arrays_small(
    blob: bytes, n: int, k: int, size: int
) -> tuple[list[int], list[float], list[int], list[list[int]], list[list[float]]]:
    """_arrays_v3 in plain Python for a few tokens (numpy's per-call cost is most of the time there):
    the same values, as lists, the alternatives as rows of k."""
    body = zlib.decompress(blob[_HEAD.size :])
    lens, off = _unplanes_small(body, 0, 4, n)
    lps, off = _unplanes_small(body, off, 4, n)
    ids, off = _unplanes_small(body, off, size, n)
    top_ids, off = _unplanes_small(body, off, size, k * n)  # by rank, then token
    deltas, off = _unplanes_small(body, off, 4, k * n)
    alt_ids, alt_lps = [], []
    for t in range(n):
        alt_ids.append(top_ids[t::n])
        row, acc = [], 0
        for d in deltas[t::n]:
            acc = (acc + d) & 0xFFFFFFFF  # wraps modulo 2**32, as the cumulative sum does
            row.append(_lp_small(acc))
        alt_lps.append(row)
    return lens, [_lp_small(q) for q in lps], ids, alt_ids, alt_lps


def _value(q: NDArray[np.uint32]) -> NDArray[np.float64]:
    """Fixed-point logprobs (u32) as floats: NaN for unknown, -inf."""
    import numpy as np

    out = -(q.astype(np.float64) / SCALE)
    out[q == _UNKNOWN] = np.nan
    out[q == _NEG_INF] = -np.inf
    return out


def _arrays_v1(blob: bytes, n: int, k: int, dt: IdType) -> Arrays:
    import numpy as np

    size = np.dtype(dt).itemsize
    off = _HEAD.size
    lens = np.frombuffer(blob, np.uint32, n, off)
    off += 4 * n
    lps = np.frombuffer(blob, np.float32, n, off)
    off += 4 * n
    ids = np.frombuffer(blob, dt, n, off)
    off += size * n
    top_ids = np.frombuffer(blob, dt, n * k, off).reshape(n, k)
    off += size * n * k
    top_lps = np.frombuffer(blob, np.float16, n * k, off).reshape(n, k)
    # read at the step of version 3, so that what a session shows is what storing it again keeps
    # (a loom-JSON export of an old session then round-trips byte for byte)
    return lens, _value(_fixed(lps)), ids, top_ids, _value(_fixed(top_lps.reshape(-1))).reshape(n, k)


def token_count(blob: bytes) -> int:
    """How many tokens a blob holds, from its header: nothing is decoded."""
    n: int = _HEAD.unpack_from(blob)[2]
    return n


def chosen_ids(blob: bytes) -> tuple[int, ...] | None:
    """The chosen tokens' ids alone (None where they are the session's, not the model's):
    what a context needs, without building a Token for each (decode does that)."""
    version, flags, n, k = _HEAD.unpack_from(blob)
    if flags & F_INTERNED and not flags & F_CHOSEN_IDS:
        return None
    import numpy as np

    dt = np.uint32 if flags & F_WIDE else np.uint16
    if version == VERSION_FIXED:
        size = 4 if flags & F_WIDE else 2
        # only as far as the ids: the alternatives after them are not needed
        body = zlib.decompressobj().decompress(blob[_HEAD.size :], (8 + size) * n)
        ids = np.frombuffer(body, np.uint8, size * n, 8 * n).reshape(size, n).T.copy().view(dt)
    elif version in (VERSION, VERSION_DEFLATED):
        if version == VERSION_DEFLATED:
            blob = blob[: _HEAD.size] + zlib.decompress(blob[_HEAD.size :])
        ids = np.frombuffer(blob, dt, n, _HEAD.size + 8 * n)
    else:
        raise ValueError(f"token data version {version} is not known to this loom")
    return tuple(ids.ravel().tolist())


def decode(blob: bytes, text: str, vocab: Vocab) -> list[Token]:
    """`vocab(ids) -> {id: text}` looks up alternative texts."""
    version, flags, n, k = _HEAD.unpack_from(blob)
    wide = bool(flags & F_WIDE)
    pad = 0xFFFFFFFF if wide else 0xFFFF
    size = n * max(k, 1)
    if version == VERSION_FIXED and (size < SMALL or (size < SMALL_WITHOUT_NUMPY and "numpy" not in sys.modules)):
        lens_l, lps_l, ids_l, alt_rows, alt_lp_rows = _arrays_small(blob, n, k, 4 if wide else 2)
        names = vocab(sorted({i for row in alt_rows for i in row} - {pad}))
    else:
        import numpy as np

        dt = np.uint32 if wide else np.uint16
        if version == VERSION_FIXED:
            lens, lps, ids, top_ids, top_lps = _arrays_v3(blob, n, k, dt)
        elif version in (VERSION, VERSION_DEFLATED):
            if version == VERSION_DEFLATED:
                blob = blob[: _HEAD.size] + zlib.decompress(blob[_HEAD.size :])
            lens, lps, ids, top_ids, top_lps = _arrays_v1(blob, n, k, dt)
        else:
            raise ValueError(f"token data version {version} is not known to this loom")
        names = vocab(sorted(set(np.unique(top_ids).tolist()) - {pad}))
        # plain Python lists: iterating numpy scalars one by one is many times slower
        alt_rows = top_ids.tolist()
        alt_lp_rows = top_lps.tolist()
        lens_l, lps_l, ids_l = lens.tolist(), lps.tolist(), ids.tolist()
    interned = bool(flags & F_INTERNED)
    own_ids = not interned or bool(flags & F_CHOSEN_IDS)  # whether the chosen ids are the model's
    raw = bool(flags & F_RAW)
    out: list[Token] = []
    pos = 0
    for row in range(n):
        alts = StoredAlternatives(alt_rows[row], alt_lp_rows[row], names, interned, pad)
        lp = lps_l[row]
        end = pos + lens_l[row]
        out.append(
            Token(
                text=text[pos:end],
                logprob=None if lp != lp else lp,
                token_id=ids_l[row] if own_ids else None,
                alternatives=alts,
                raw=raw,
            )
        )
        pos = end
    return out


class StoredAlternatives(LazyAlternatives):
    """A token's alternatives as a token blob holds them (ids into the session's
    vocabulary and logprobs), made into objects when first read."""

    __slots__ = ("_ids", "_lps", "_names", "_interned", "_pad", "_items")

    def __init__(self, ids: list[int], lps: list[float], names: dict[int, str], interned: bool, pad: int):
        self._ids, self._lps, self._names, self._interned, self._pad = ids, lps, names, interned, pad
        self._items: tuple[Alternative, ...] | None = None

    def _tuple(self) -> tuple[Alternative, ...]:
        if self._items is None:
            self._items = tuple(
                Alternative(self._names.get(i, "?"), lp, None if self._interned else i)
                for i, lp in zip(self._ids, self._lps)
                if i != self._pad
            )
        return self._items

    def rows(self) -> list[tuple[str, float, int | None]]:
        """(text, logprob, token id) of each alternative, without making Alternative objects
        (an export reads every token's alternatives once: making them was a tenth of its time)."""
        if self._items is not None:
            return [(a.text, a.logprob, a.token_id) for a in self._items]
        names, interned, pad = self._names, self._interned, self._pad
        return [(names.get(i, "?"), lp, None if interned else i) for i, lp in zip(self._ids, self._lps) if i != pad]

    def __len__(self) -> int:
        return len(self._ids) - self._ids.count(self._pad)
