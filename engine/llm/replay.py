"""Replays the recorded replies of a trial, in order, as if a model were writing them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

from engine.llm.base import LLMError, LLMReply, TextDelta


class ReplayBackend:
    """Streams ``replies[0]``, then ``replies[1]``, ... one per call."""

    name = "replay"
    synthetic = False

    def __init__(self, replies: list[str], model: str = "replay", delay_s: float = 0.0) -> None:
        self.replies = list(replies)
        self.model = model
        self.delay_s = delay_s
        self.calls = 0

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        if self.calls >= len(self.replies):
            raise LLMError(f"replay: no recorded reply left (recorded {len(self.replies)})")
        text = self.replies[self.calls]
        self.calls += 1
        t0 = time.perf_counter()
        for piece in re.findall(r"\s*\S+|\s+", text):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield TextDelta(piece)
        yield LLMReply(
            text=text,
            model=self.model,
            backend=self.name,
            synthetic=False,
            latency_s=time.perf_counter() - t0,
            finish_reason="stop",
        )
