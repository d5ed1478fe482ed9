"""Per-backbone request pacing: at most ``requests_per_minute`` LLM requests start per minute.

A provider's rate limit belongs to an API key, not to a process: every trial that shares a
backbone, on this machine or on any node of a Ray cluster, draws from one :class:`RequestPacer`
(in the runner's process, or in one small Ray actor on the head node). Requests are spaced
``60 / rpm`` seconds apart rather than allowed in bursts, which keeps well inside a provider's
per-minute window and spreads trials evenly. Retries inside a backend are not paced again: they
follow the client's own backoff and the server's Retry-After.

Pacing is at *send* time. A request may start only when at least ``60 / rpm`` seconds have
passed since the previous request of its key actually started, and a start is recorded when it
is granted, right before the request goes out. A request that must wait is told for how long,
sleeps, and then asks again: it never leaves on a slot computed earlier. So when an event loop
(or a node) stalls and several waiters wake together, one of them goes and the others are told
to wait again, instead of all leaving in a burst on slots that came due during the stall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from engine.llm.base import Backend, LLMReply, TextDelta


class RequestPacer:
    """Grants request starts, per key, at least ``60 / rpm`` seconds apart at send time.

    The clock is wall-clock (``time.time()``) so a pacer on a Ray head and the trials on other
    nodes speak of the same times; only the pacer's own clock decides a grant, and what it hands
    back is a wait in seconds, so clock offsets between nodes do not matter. Should the clock
    step backwards, a wait is still never longer than one interval."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._last: dict[str, float] = {}  # key -> when its last granted request started

    def acquire(self, key: str, rpm: float) -> float:
        """Ask to start a request of ``key`` now.

        Returns 0.0 if it may start: the start is recorded now. Otherwise returns how many
        seconds to wait before asking again (> 0); nothing is reserved, so a waiter that wakes
        late asks again and is judged by the time it actually asks."""
        interval = 60.0 / rpm
        now = self.clock()
        last = self._last.get(key)
        if last is not None:
            wait = min(last + interval - now, interval)  # min: a clock stepped backwards
            if wait > 0:
                return wait
        self._last[key] = now
        return 0.0


SlotSource = Callable[[str, float], Awaitable[float]]
"""``(key, rpm) -> wait``: :meth:`RequestPacer.acquire` here or in the Ray pacer actor; 0.0
means the request was granted and starts now, else ask again after that many seconds."""


class PacedBackend:
    """A backend whose every request first waits until ``acquire`` grants it a start."""

    def __init__(self, inner: Backend, acquire: Callable[[], Awaitable[float]]) -> None:
        self.inner = inner
        self.acquire = acquire

    def __getattr__(self, name: str) -> Any:  # name, model, synthetic, ...
        return getattr(self.inner, name)

    async def stream(
        self, messages: list[dict], images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        while (wait := await self.acquire()) > 0:
            await asyncio.sleep(wait)
        async for item in self.inner.stream(messages, images=images):
            yield item


def paced(backend: Backend, key: str, rpm: float, slots: SlotSource) -> Backend:
    """``backend`` limited to ``rpm`` request starts per minute (unchanged if ``rpm`` is 0)."""
    if rpm <= 0:
        return backend
    return PacedBackend(backend, lambda: slots(key, rpm))  # type: ignore[return-value]
