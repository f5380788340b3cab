"""Many requests in flight to one or several OpenAI-compatible servers, from
plain threads: one asyncio event loop in a daemon thread per backend, with the
`openai` package's AsyncOpenAI client for each base URL.

loom schedules nothing of its own beyond this: at most `per_server` requests
wait on each server at once (the serving engine batches them), and each new
request goes to the server with the fewest in flight, so a list of base URLs
(or one load balancer) shares the work. The caller's thread hands coroutines to
the loop (`submit`) and reads their results from a queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class Engine:
    def __init__(self, clients: list[Any], per_server: Callable[[], int]):
        self.clients = clients  # one AsyncOpenAI per base URL, used only on the loop
        self.per_server = per_server  # read at every request: a backend may drop to one at a time
        self.in_flight = [0] * len(clients)  # requests now sent to each server (read on the loop)
        self.sent = [0] * len(clients)  # requests sent to each server so far
        self._next = 0  # where the tie-break starts, so equal servers take turns
        self._free: asyncio.Condition | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="loom-openai", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run `coro` on the loop; its concurrent Future (cancel() stops it)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(fn)

    @asynccontextmanager
    async def slot(self):
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
        if not self.loop.is_running():
            return

        async def shut() -> None:
            for client in self.clients:
                try:
                    await client.close()
                except Exception:  # a broken connection may fail to close; the backend is done with it
                    pass

        try:
            self.submit(shut()).result(timeout=5)
        except Exception:  # closing is best effort: the thread is a daemon
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def async_key(key: Callable[[], str]) -> Callable[[], Awaitable[str]]:
    """AsyncOpenAI asks for a callable key as a coroutine."""

    async def read() -> str:
        return key()

    return read
