"""Replays recorded replies, in order, as if a model were writing them.

For re-running a stored trial without a model (and for tests of anything that consumes a
backend). Not synthetic: the texts were written by a real model, only the timing is replayed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

from engine.llm.base import LLMError, LLMReply, TextDelta

_WORDISH = re.compile(r"\s*\S+|\s+")


def word_pieces(text: str) -> list[str]:
    """Split text into word-ish deltas (each word with the whitespace before it); they join back
    to exactly ``text``."""
    return _WORDISH.findall(text)


class ReplayBackend:
    """Streams ``replies[0]`` on the first call, ``replies[1]`` on the next, and so on.

    ``delay_s`` sleeps before each delta to imitate a model's pace. ``seen`` keeps the messages
    of every call so a test can check what was asked. Running out raises :class:`LLMError`.
    """

    name = "replay"
    synthetic = False

    def __init__(self, replies: list[str], model: str = "replay", delay_s: float = 0.0) -> None:
        self.replies = list(replies)
        self.model = model
        self.delay_s = delay_s
        self.calls = 0
        self.seen: list[list[dict]] = []

    def __repr__(self) -> str:
        return f"ReplayBackend(model={self.model!r}, {self.calls}/{len(self.replies)} replayed)"

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        """Yield the next recorded reply in word-ish pieces, then its LLMReply."""
        if self.calls >= len(self.replies):
            raise LLMError(
                f"replay: no recorded reply left ({len(self.replies)} recorded, all used)",
                kind="exhausted",
            )
        text = self.replies[self.calls]
        self.calls += 1
        self.seen.append(list(messages))
        t0 = time.monotonic()
        first: float | None = None
        for piece in word_pieces(text):
            await asyncio.sleep(self.delay_s)  # also lets other tasks run when delay_s == 0
            if first is None:
                first = time.monotonic() - t0
            yield TextDelta(piece)
        yield LLMReply(
            text=text,
            model=self.model,
            backend=self.name,
            synthetic=False,
            latency_s=time.monotonic() - t0,
            first_token_s=first,
            finish_reason="stop",
        )
