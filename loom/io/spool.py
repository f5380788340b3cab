"""Values kept in a temporary file instead of memory, read back one at a time.

An import reads its file once, puts each node (and each model response) here
as it is read, checks them all, and only then writes them to the session: the
memory it needs does not grow with the file."""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload


class Spool(Sequence[Any]):
    """A list of values on disk: `add` (or `reserve` a place and `put` later), then index or iterate."""

    def __init__(self) -> None:
        self._fh = tempfile.TemporaryFile()
        self._at = array("q")  # where each value starts in the file (-1: reserved, not yet put)
        self._size = array("q")
        # values are appended (the file's position stays at its end) and read with pread: a seek
        # would flush the write buffer and cost a system call of its own for every value
        self._end = 0
        self._unflushed = False

    def reserve(self) -> int:
        self._at.append(-1)
        self._size.append(0)
        return len(self._at) - 1

    def put(self, i: int, value: Any) -> None:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        self._at[i] = self._end
        self._size[i] = len(data)
        self._fh.write(data)
        self._end += len(data)
        self._unflushed = True

    def add(self, value: Any) -> int:
        i = self.reserve()
        self.put(i, value)
        return i

    def __len__(self) -> int:
        return len(self._at)

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):  # (a negative index past the start is not counted from the end again)
            raise IndexError("Spool index out of range")
        return self._read(i)

    def _read(self, i: int) -> Any:
        at = self._at[i]
        if at < 0:
            raise IndexError(f"Spool place {i} was reserved and never put")
        if self._unflushed:
            self._fh.flush()
            self._unflushed = False
        return pickle.loads(os.pread(self._fh.fileno(), self._size[i], at))

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self._at)):
            yield self._read(i)

    def close(self) -> None:
        self._fh.close()


#: what a KeyedSpool keeps of each value as it is put, besides the value: (bytes to read back
#: without reading the value, or None; whether to mark the value)
Summary = Callable[[Any], tuple[bytes | None, bool]]


class KeyedSpool(Mapping[str, Any]):
    """A dict on disk: each value put under its key (a key put again keeps its place and takes
    the new value, as json does with a repeated key); the last few values read are kept.

    With `summarize`, each value's summary is taken as it is put: its bytes are read back by
    `summary` (without reading the value), and the slots of the values it marks are in `marked`."""

    def __init__(self, summarize: Summary | None = None) -> None:
        self._spool = Spool()
        self._index: dict[str, int] = {}
        self._recent: dict[str, Any] = {}
        self._summarize = summarize
        self._summaries = Spool() if summarize is not None else None  # by slot, as the values
        self.marked: set[int] = set()

    def put(self, key: str, value: Any) -> None:
        slot = self._index[key] = self._spool.add(value)
        self._recent.pop(key, None)
        if self._summarize is not None and self._summaries is not None:
            text, mark = self._summarize(value)
            self._summaries.add(text)
            if mark:
                self.marked.add(slot)

    @property
    def summarized(self) -> bool:
        return self._summarize is not None

    def summary(self, key: str) -> bytes | None:
        """The bytes `summarize` gave for the key's value (KeyError if the key is not here)."""
        return self._summaries._read(self._index[key]) if self._summaries is not None else None

    def slots(self) -> int:
        """How many slots there are (every slot is below it): a key put again takes a new one."""
        return len(self._spool)

    def __getitem__(self, key: str) -> Any:
        if key in self._recent:
            return self._recent[key]
        value = self._spool._read(self._index[key])
        if len(self._recent) >= 64:
            self._recent.pop(next(iter(self._recent)))
        self._recent[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:  # (Mapping's own goes through a KeyError)
        return self[key] if key in self._index else default

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def slot(self, key: str) -> int:
        """Where the key's value is: a number that stands for the key (KeyError if it is not here),
        for bookkeeping about many values that should not hold another copy of each key."""
        return self._index[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        self._spool.close()
        if self._summaries is not None:
            self._summaries.close()


def slots(mapping: Mapping[str, Any]) -> Callable[[str], str | int]:
    """What stands for a key of `mapping` in bookkeeping about its values: a KeyedSpool's slot
    (a small int, not another copy of the key), a dict's key itself."""
    if isinstance(mapping, KeyedSpool):
        return mapping.slot
    return _same


def _same(key: str) -> str | int:
    return key
