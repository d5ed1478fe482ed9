"""Per-backbone request pacing: at most ``requests_per_minute`` LLM requests start per minute.

A provider's rate limit belongs to an API key, not to a process: every trial that shares a
backbone, on this machine or on any node of a Ray cluster, draws from one :class:`RequestPacer`
(in the runner's process, or in one small Ray actor on the head node). Requests are spaced
``60 / rpm`` seconds apart rather than allowed in bursts, which keeps well inside a provider's
per-minute window and spreads trials evenly. Retries inside a backend are not paced again: they
follow the client's own backoff and the server's Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from engine.llm.base import Backend, LLMReply, TextDelta


class RequestPacer:
    """Hands out start times for requests, per key, at least ``60 / rpm`` seconds apart.

    Start times are wall-clock (``time.time()``), not delays: a trial on another node waits
    until that moment, so the time its request for a slot spent on the network does not
    shift its start (cluster clocks agree to milliseconds under NTP)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._next: dict[str, float] = {}

    def reserve(self, key: str, rpm: float) -> float:
        """Claim the next start slot for ``key``; returns its start time on ``clock``."""
        now = self.clock()
        start = max(now, self._next.get(key, now))
        self._next[key] = start + 60.0 / rpm
        return start


class PacedBackend:
    """A backend whose every request first waits for the start time ``reserve`` hands out."""

    def __init__(self, inner: Backend, reserve: Callable[[], Awaitable[float]]) -> None:
        self.inner = inner
        self.reserve = reserve

    def __getattr__(self, name: str) -> Any:  # name, model, synthetic, ...
        return getattr(self.inner, name)

    async def stream(
        self, messages: list[dict], images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        wait = await self.reserve() - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        async for item in self.inner.stream(messages, images=images):
            yield item


SlotSource = Callable[[str, float], Awaitable[float]]
"""``(key, rpm) -> start time``: a RequestPacer here, or the one in a Ray actor."""


def paced(backend: Backend, key: str, rpm: float, slots: SlotSource) -> Backend:
    """``backend`` limited to ``rpm`` request starts per minute (unchanged if ``rpm`` is 0)."""
    if rpm <= 0:
        return backend
    return PacedBackend(backend, lambda: slots(key, rpm))  # type: ignore[return-value]
