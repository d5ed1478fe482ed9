"""LLM fault drills: whole trials through the real ``openai`` client against a server that
misbehaves on cue (tests/openai_server.py, a real HTTP server on 127.0.0.1; nothing patched).

Each drill runs :func:`engine.trial.loop.run_trial` with an :class:`OpenAIBackend` and checks
that the outcome is recorded truthfully: the trial ends (``finish`` when the fault was retried
away, ``llm_error`` with a one-line error when it was not), no exception escapes the trial, and
what was retried is on record (``block.llm_retries`` of the reply, ``LLMError.retries`` of a
call that failed for good, seen here by a transparent wrapper around the backend). Deadlines
are generous: the only short timeout is the one a hang drill is about, and waits are checked
from below only (a loaded machine makes them longer, never shorter).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from engine.llm import LLMError, LLMReply, OpenAIBackend, OpenAIConfig, TextDelta
from engine.trial import events as ev
from engine.trial.loop import run_trial
from engine.trial.records import TrialRecord
from tests.openai_server import MALFORMED_CHUNK, NOT_UTF8_CHUNK, Behaviour, FakeOpenAI
from tests.sweep_helpers import trial_spec

MODEL = "drill-model"
CODE = "```python\nprint('drill ok')\n```"


class Watched:
    """The backend as the trial sees it, keeping each reply and each LLMError that goes by."""

    def __init__(self, inner: OpenAIBackend) -> None:
        self.inner = inner
        self.name, self.model, self.synthetic = inner.name, inner.model, inner.synthetic
        self.replies: list[LLMReply] = []
        self.failures: list[LLMError] = []

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        try:
            async for item in self.inner.stream(messages, images=images):
                if isinstance(item, LLMReply):
                    self.replies.append(item)
                yield item
        except LLMError as exc:
            self.failures.append(exc)
            raise


@dataclass
class Outcome:
    record: TrialRecord | None
    escaped: BaseException | None
    backend: Watched
    events: list[ev.TrialEvent] = field(default_factory=list)

    @property
    def failure(self) -> LLMError:
        assert len(self.backend.failures) == 1, self.backend.failures
        return self.backend.failures[0]

    def retry_events(self) -> int:
        return sum(1 for e in self.events if e.kind == ev.LLM_RETRY)

    def restarts(self) -> int:
        return sum(1 for e in self.events if e.kind == ev.LLM_DELTA and e.data.get("restart"))


async def trial(
    server: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    *behaviours: Behaviour,
    default: Behaviour | None = None,
    **config: object,
) -> Outcome:
    """One whole trial: the server answers ``behaviours`` in order, then ``default`` (FINISH)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-drill")
    server.push(*behaviours)
    server.default = default or Behaviour.reply("FINISH")
    cfg: dict = dict(model=MODEL, base_url=server.url, timeout_s=30.0, max_retries=2)
    cfg.update(config)
    backend = Watched(OpenAIBackend(OpenAIConfig(**cfg)))
    events: list[ev.TrialEvent] = []
    spec = trial_spec("drill", quality="fast", seed=1)
    try:
        record = await run_trial(spec, backend, sink=events.append)  # type: ignore[arg-type]
    except Exception as exc:  # the drill fails: nothing the LLM does may escape a trial
        return Outcome(None, exc, backend, events)
    return Outcome(record, None, backend, events)


def one_line(text: str | None) -> bool:
    return bool(text) and "\n" not in text and len(text) <= 500  # type: ignore[arg-type]


def finished_after_retries(o: Outcome, reasons: list[str], statuses: list[int | None]) -> bool:
    """The trial finished, its code ran, and block 0 records exactly these retries."""
    r = o.record
    if r is None or r.end_reason != "finish" or not r.blocks or r.error:
        return False
    block = r.blocks[0]
    got = block.llm_retries
    return (
        block.ok
        and block.stdout == "drill ok\n"
        and len(got) == len(reasons)
        and all(g["reason"].startswith(want) for g, want in zip(got, reasons, strict=True))
        and [g["status"] for g in got] == statuses
        and o.retry_events() == len(reasons)
    )


def ended_with_llm_error(o: Outcome, kind: str, says: str, retries: int) -> bool:
    """The trial ended with llm_error, one line saying ``says``, and the failed call kept
    its ``retries``; nothing ran and nothing counts as a success."""
    r = o.record
    if r is None or not o.backend.failures:
        return False
    exc = o.backend.failures[-1]
    return (
        r.end_reason == "llm_error"
        and one_line(r.error)
        and says in (r.error or "")
        and r.error == str(exc)
        and exc.kind == kind
        and len(exc.retries) == retries
        and not r.final_success
        and not r.any_success
        and r.n_blocks == 0
    )


def waits(o: Outcome) -> str:
    return "/".join(f"{x['wait_s']:.2f}" for x in o.record.blocks[0].llm_retries)  # type: ignore[union-attr]


# -- HTTP errors --------------------------------------------------------------------------------


async def test_429_with_retry_after_is_waited_out(openai_server, monkeypatch, drill) -> None:
    o = await trial(
        openai_server,
        monkeypatch,
        Behaviour.error(429, retry_after="0.3"),
        Behaviour.error(429, retry_after="0.3"),
        Behaviour.reply(CODE),
    )
    held = finished_after_retries(o, ["HTTP 429 (rate limited)"] * 2, [429, 429])
    retries = o.record.blocks[0].llm_retries if held else []  # type: ignore[union-attr]
    held = held and all(x["retry_after_s"] == 0.3 and x["wait_s"] >= 0.25 for x in retries)
    drill("429 + Retry-After 0.3 s, x2", f"finish; 2 retries kept, waits {waits(o)} s", held)
    assert held, (o.escaped, o.record)


async def test_429_that_never_lifts_is_an_llm_error(openai_server, monkeypatch, drill) -> None:
    o = await trial(openai_server, monkeypatch, default=Behaviour.error(429, retry_after="0.1"))
    held = ended_with_llm_error(o, "http", "HTTP 429 after 3 attempts", retries=2)
    held = held and o.failure.status == 429
    drill("429 on every attempt", f"llm_error, 2 retries kept: {o.record and o.record.error}", held)
    assert held, (o.escaped, o.record, o.backend.failures)


async def test_5xx_then_an_answer(openai_server, monkeypatch, drill) -> None:
    o = await trial(
        openai_server,
        monkeypatch,
        Behaviour.error(500),
        Behaviour.error(503),
        Behaviour.reply(CODE),
    )
    held = finished_after_retries(
        o, ["HTTP 500 (server error)", "HTTP 503 (server error)"], [500, 503]
    )
    drill(
        "HTTP 500, 503, then an answer",
        f"finish; 2 retries kept (client backoff {waits(o)} s)",
        held,
    )
    assert held, (o.escaped, o.record)


async def test_5xx_for_good_is_an_llm_error(openai_server, monkeypatch, drill) -> None:
    o = await trial(openai_server, monkeypatch, default=Behaviour.error(502))
    held = ended_with_llm_error(o, "http", "HTTP 502 after 3 attempts", retries=2)
    drill("HTTP 502 on every attempt", f"llm_error: {o.record and o.record.error}", held)
    assert held, (o.escaped, o.record, o.backend.failures)


# -- hangs --------------------------------------------------------------------------------------


async def test_a_hang_before_the_headers_times_out(openai_server, monkeypatch, drill) -> None:
    o = await trial(
        openai_server, monkeypatch, default=Behaviour.stall(600), timeout_s=1.0, max_retries=1
    )
    held = ended_with_llm_error(o, "timeout", "no response from", retries=1)
    held = held and o.failure.retries[0].reason.startswith("timeout")
    drill("hang before headers (timeout 1 s)", f"llm_error: {o.record and o.record.error}", held)
    assert held, (o.escaped, o.record, o.backend.failures)


async def test_a_hang_behind_keep_alives_times_out_and_is_retried(
    openai_server, monkeypatch, drill
) -> None:
    o = await trial(
        openai_server,
        monkeypatch,
        Behaviour.stall_mid_stream(CODE, after=1, seconds=600, keepalive_s=0.1),
        Behaviour.reply(CODE),
        timeout_s=1.0,
    )
    held = finished_after_retries(o, ["stream stalled: no data for 1 s"], [None])
    held = held and o.restarts() == 1 and o.record.blocks[0].reply == CODE  # type: ignore[union-attr]
    drill(
        "hang mid-stream, keep-alives only",
        "finish; 1 stream retry kept, partial text restarted",
        held,
    )
    assert held, (o.escaped, o.record)


# -- broken streams -----------------------------------------------------------------------------


async def test_a_cut_stream_is_asked_again(openai_server, monkeypatch, drill) -> None:
    o = await trial(openai_server, monkeypatch, Behaviour.truncate(CODE), Behaviour.reply(CODE))
    held = finished_after_retries(o, ["stream broke off after 12 chars"], [None])
    held = held and o.restarts() == 1 and o.record.blocks[0].reply == CODE  # type: ignore[union-attr]
    drill("stream cut mid-body", "finish; 1 stream retry kept, partial text restarted", held)
    assert held, (o.escaped, o.record)


async def test_a_stream_cut_every_time_is_an_llm_error(openai_server, monkeypatch, drill) -> None:
    o = await trial(openai_server, monkeypatch, default=Behaviour.truncate(CODE))
    held = ended_with_llm_error(o, "truncated", "gave up after 1 retry", retries=1)
    drill("stream cut on every attempt", f"llm_error: {o.record and o.record.error}", held)
    assert held, (o.escaped, o.record, o.backend.failures)


async def test_a_malformed_json_chunk_is_asked_again(openai_server, monkeypatch, drill) -> None:
    o = await trial(
        openai_server,
        monkeypatch,
        Behaviour.inject(CODE, MALFORMED_CHUNK),
        Behaviour.reply(CODE),
    )
    held = finished_after_retries(o, ["malformed stream chunk (JSONDecodeError)"], [None])
    drill("malformed JSON chunk", "finish; 1 stream retry kept", held)
    assert held, (o.escaped, o.record)


async def test_malformed_chunks_every_time_are_an_llm_error(
    openai_server, monkeypatch, drill
) -> None:
    o = await trial(openai_server, monkeypatch, default=Behaviour.inject(CODE, MALFORMED_CHUNK))
    held = ended_with_llm_error(o, "truncated", "malformed stream chunk", retries=1)
    drill("malformed JSON on every attempt", f"llm_error: {o.record and o.record.error}", held)
    assert held, (o.escaped, o.record, o.backend.failures)


WRONG_TYPES = b"".join(
    b"data: " + body + b"\n\n"
    for body in (
        b'{"model": 7, "choices": [{"index": 0, "delta": {"content": 5, "refusal": 1}}]}',
        b'{"choices": [{"index": 0, "delta": {}, "finish_reason": 9}]}',
        b'{"choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": -3}}',
    )
)


async def test_json_fields_of_the_wrong_type_are_ignored(openai_server, monkeypatch, drill) -> None:
    o = await trial(
        openai_server, monkeypatch, Behaviour("reply", text=CODE, raw=WRONG_TYPES, usage=False)
    )
    r = o.record
    held = (
        r is not None
        and r.end_reason == "finish"
        and r.blocks[0].reply == CODE
        and r.blocks[0].ok
        and r.blocks[0].served_model == MODEL
        and r.blocks[0].prompt_tokens == 0  # the count was not a number: none, not "many"
        and r.prompt_tokens == 42  # the FINISH turn's usage still counts
    )
    drill("JSON fields of the wrong type", "finish; bad fields ignored, token count unknown", held)
    assert held, (o.escaped, r)


async def test_bytes_that_are_not_utf8_are_asked_again(openai_server, monkeypatch, drill) -> None:
    o = await trial(
        openai_server, monkeypatch, Behaviour.inject(CODE, NOT_UTF8_CHUNK), Behaviour.reply(CODE)
    )
    held = finished_after_retries(o, ["malformed stream chunk (UnicodeDecodeError)"], [None])
    drill("non-UTF-8 bytes in the stream", "finish; 1 stream retry kept", held)
    assert held, (o.escaped, o.record)


def _event(content: str) -> bytes:
    import json

    chunk = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"  # json escapes surrogates as \uXXXX


async def test_escaped_surrogates_become_valid_text(openai_server, monkeypatch, drill) -> None:
    head, tail = "```python\n# mood: ", "\nprint('drill ok')\n```"
    raw = _event("\ud83d") + _event("\ude00") + _event(" and a lone \udc00")
    o = await trial(
        openai_server,
        monkeypatch,
        Behaviour("reply", text=head + tail, chunk_chars=len(head), raw=raw, raw_after=1),
    )
    r = o.record
    want = head + "\U0001f600 and a lone \ufffd" + tail
    held = r is not None and r.end_reason == "finish" and r.blocks[0].reply == want
    held = held and r.blocks[0].ok and r.blocks[0].stdout == "drill ok\n"  # type: ignore[union-attr]
    drill(
        "split surrogate pair, lone surrogate",
        "finish; pair joined, lone one U+FFFD, code ran",
        held,
    )
    assert held, (o.escaped, r)


# -- odd replies --------------------------------------------------------------------------------


async def test_an_empty_reply_is_an_llm_error(openai_server, monkeypatch, drill) -> None:
    o = await trial(openai_server, monkeypatch, Behaviour.empty(), Behaviour.empty())
    held = ended_with_llm_error(o, "empty", "empty reply (finish_reason=stop)", retries=1)
    drill("empty reply, twice", f"llm_error: {o.record and o.record.error}", held)
    assert held, (o.escaped, o.record, o.backend.failures)


async def test_a_reply_without_code_runs_as_code_and_fails(
    openai_server, monkeypatch, drill
) -> None:
    prose = "I would rather not write code for this task."
    o = await trial(openai_server, monkeypatch, Behaviour.reply(prose))
    r = o.record
    block = r.blocks[0] if r and r.blocks else None
    told = "SyntaxError" in str(openai_server.requests[1].body["messages"][1]["content"])
    held = (
        r is not None
        and block is not None
        and r.end_reason == "finish"
        and block.code == prose  # CaP-X's rule: no fence, the whole reply is the code
        and block.executed
        and not block.ok
        and block.exception.startswith("SyntaxError")
        and told
        and not r.final_success
    )
    drill("reply with no code block", "finish; block ran as code, SyntaxError fed back", held)
    assert held, (o.escaped, r)


async def test_a_one_megabyte_reply_is_kept_and_run(openai_server, monkeypatch, drill) -> None:
    padding = "".join(f"# {i:07d} {'x' * 60}\n" for i in range(15_000))
    big = f"```python\n{padding}print('drill ok')\n```"
    assert len(big) > 1_000_000
    o = await trial(openai_server, monkeypatch, Behaviour.reply(big, chunk_chars=1000))
    r = o.record
    follow_up = str(openai_server.requests[1].body["messages"][1]["content"]) if r else ""
    held = (
        r is not None
        and r.end_reason == "finish"
        and r.blocks[0].reply == big
        and r.blocks[0].ok
        and r.blocks[0].stdout == "drill ok\n"
        and len(follow_up) > 1_000_000  # the next prompt carried the executed code
    )
    drill("1 MB reply", f"finish; {len(big):,} chars kept, run and fed back", held)
    assert held, (o.escaped, r and r.end_reason)
