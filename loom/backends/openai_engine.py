"""Many requests in flight to one or several OpenAI-compatible servers, from
plain (synchronous) code: one asyncio event loop per backend, with the
`openai` package's AsyncOpenAI client for each base URL.

The loop has no thread of its own: a caller waiting for replies runs it (under
a lock, so several threads may share it) until something arrives, then reads
what arrived on its own thread. Everything happens on one thread at a time,
so a reply's parsing never fights the network for Python's lock, and nothing
arrives faster than it is read (memory stays flat however many samples).

loom schedules nothing of its own beyond this: at most `per_server` requests
wait on each server at once (the serving engine batches them), and each new
request goes to the server with the fewest in flight, so a list of base URLs
(or one load balancer in front of many) shares the work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any


class Engine:
    def __init__(self, clients: list[Any], per_server: Callable[[], int]):
        self.clients = clients  # one AsyncOpenAI per base URL, used only on the loop
        self.per_server = per_server  # read at every request: a backend may drop to one at a time
        self.in_flight = [0] * len(clients)  # requests now sent to each server
        self.sent = [0] * len(clients)  # requests sent to each server so far
        self._next = 0  # where the tie-break starts, so equal servers take turns
        self.loop = asyncio.new_event_loop()
        self._running = threading.Lock()  # one thread runs the loop at a time
        self._free: asyncio.Condition | None = None
        self._arrived: asyncio.Event | None = None

    def start(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Schedule `coro` on the loop; it runs whenever a caller waits (see `wait`)."""
        with self._running:
            return self.loop.create_task(coro)

    def arrived(self) -> None:
        """Called on the loop when a reply (or a chunk of one) has been posted."""
        if self._arrived is not None:
            self._arrived.set()

    def wait(self, ready: Callable[[], bool], timeout: float = 0.05) -> None:
        """Run the loop until something arrives for anyone, or `timeout` passes; at once
        if `ready()` (the caller has something to read)."""
        with self._running:
            if ready():
                return
            self.loop.run_until_complete(self._until_arrival(timeout))

    async def _until_arrival(self, timeout: float) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            pass

    def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        """Cancel `tasks` and let them end (their connections close)."""
        with self._running:
            live = [t for t in tasks if not t.done()]
            for task in live:
                task.cancel()
            if live:
                self.loop.run_until_complete(asyncio.gather(*live, return_exceptions=True))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """Wait for room on some server, then hold it: yields the server's index."""
        if self._free is None:
            self._free = asyncio.Condition()
        k = len(self.clients)
        async with self._free:
            await self._free.wait_for(lambda: sum(self.in_flight) < max(1, self.per_server()) * k)
            # the least busy server; with a bound of per_server * k in all, none goes past per_server
            i = min(range(k), key=lambda j: (self.in_flight[j], (j - self._next) % k))
            self.in_flight[i] += 1
            self.sent[i] += 1
            self._next = (i + 1) % k
        try:
            yield i
        finally:
            async with self._free:
                self.in_flight[i] -= 1
                self._free.notify_all()

    def close(self) -> None:
        async def shut() -> None:
            for client in self.clients:
                try:
                    await client.close()
                except Exception:  # a broken connection may fail to close; the backend is done with it
                    pass

        with self._running:
            if self.loop.is_closed():
                return
            try:
                self.loop.run_until_complete(shut())
            finally:
                self.loop.close()


def async_key(key: Callable[[], str]) -> Callable[[], Awaitable[str]]:
    """AsyncOpenAI asks for a callable key as a coroutine."""

    async def read() -> str:
        return key()

    return read


def loop_running_here() -> bool:
    """Whether this thread already runs an event loop (a notebook does): then a
    caller cannot run the engine's loop here, and generation goes to a thread."""
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
