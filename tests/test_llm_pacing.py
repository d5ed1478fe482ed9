"""Request pacing at send time: a stalled event loop must not release a burst of requests.

The pacer is reached through the same seam the executors use (``LocalExecutor._slot``), and
the request times checked are when a fake backend's ``stream()`` was entered, i.e. when the
request really went out. They are compared with each other and with the moments the test
blocked its event loop, never with how long the test took, so a slow machine cannot fail it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from engine.executors.local import LocalExecutor
from engine.llm.base import LLMReply, TextDelta, complete
from engine.llm.ratelimit import RequestPacer, paced

RPM = 300.0
INTERVAL = 60.0 / RPM  # 0.2 s between request starts
TOLERANCE = INTERVAL / 4  # the few microseconds between a grant and the send, with room to spare
MESSAGES = [{"role": "user", "content": "go"}]


class SendRecorder:
    """A backend that notes the wall-clock time each request is sent (``stream()`` entered)."""

    name = "recorder"
    model = "recorder-model"
    synthetic = True

    def __init__(self) -> None:
        self.sent: list[float] = []

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        self.sent.append(time.time())
        yield TextDelta("ok")
        yield LLMReply(text="ok", model=self.model, backend=self.name, synthetic=True)


def most_within(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if a <= t < a + window) for a in times)


async def test_a_stalled_event_loop_does_not_release_a_burst() -> None:
    n = 6
    executor = LocalExecutor()
    inner = SendRecorder()
    asked = 0
    everyone_asked = asyncio.Event()

    async def slots(key: str, rpm: float) -> float:  # the executor's own slot source, counted
        nonlocal asked
        asked += 1
        if asked >= n:
            everyone_asked.set()
        return await executor._slot(key, rpm)

    backend = paced(inner, "coder", RPM, slots)  # type: ignore[arg-type]
    requests = [asyncio.create_task(complete(backend, MESSAGES)) for _ in range(n)]
    await everyone_asked.wait()  # one request went out, the other five are waiting their turn

    async def hog_the_loop() -> None:
        time.sleep(3 * INTERVAL)  # synchronous: nothing else runs while it sleeps

    stall_start = time.time()
    await hog_the_loop()
    stall_end = time.time()
    replies = await asyncio.gather(*requests)

    assert [r.text for r in replies] == ["ok"] * n
    sent = sorted(inner.sent)
    assert len(sent) == n
    assert sent[0] < stall_start and all(t >= stall_end for t in sent[1:]), (
        "the scenario: one request before the stall, the rest waiting through it"
    )
    gaps = [round(b - a, 4) for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= INTERVAL - TOLERANCE, (
        f"requests closer than {INTERVAL} s at {RPM:g} RPM after a stall: gaps {gaps}"
    )
    window = 2 * (INTERVAL - TOLERANCE)
    assert most_within(sent, window) <= 2, f"a burst after the stall: gaps {gaps}"


async def test_each_backbone_is_paced_on_its_own() -> None:
    executor = LocalExecutor()
    a, b = SendRecorder(), SendRecorder()
    paced_a = paced(a, "a", RPM, executor._slot)  # type: ignore[arg-type]
    paced_b = paced(b, "b", RPM, executor._slot)  # type: ignore[arg-type]
    await asyncio.gather(*(complete(x, MESSAGES) for x in (paced_a, paced_a, paced_b)))
    assert len(a.sent) == 2 and len(b.sent) == 1
    assert a.sent[1] - a.sent[0] >= INTERVAL - TOLERANCE
    assert b.sent[0] < max(a.sent), "b did not wait behind a's second request"


def test_a_late_waiter_is_judged_when_it_asks_not_by_an_earlier_slot() -> None:
    now = [100.0]
    pacer = RequestPacer(clock=lambda: now[0])
    assert pacer.acquire("k", 60) == 0.0  # granted at 100
    assert pacer.acquire("k", 60) == 1.0 and pacer.acquire("k", 60) == 1.0  # two wait
    now[0] = 105.0  # both slept through a stall and wake together
    assert pacer.acquire("k", 60) == 0.0, "the first to ask goes"
    assert pacer.acquire("k", 60) == 1.0, "the other one waits a whole interval more"


def test_a_clock_stepped_back_never_means_a_wait_longer_than_one_interval() -> None:
    now = [1000.0]
    pacer = RequestPacer(clock=lambda: now[0])
    assert pacer.acquire("k", 120) == 0.0
    now[0] = 10.0  # NTP stepped the wall clock back
    assert pacer.acquire("k", 120) == 0.5
