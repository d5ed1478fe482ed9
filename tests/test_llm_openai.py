"""The real openai client against a local OpenAI-compatible server: streaming, retries, failures.

Nothing is mocked: tests/openai_server.py is a real HTTP server on 127.0.0.1 that misbehaves on
cue. Timeouts and Retry-After values are kept small so the whole file runs in seconds.
"""

from __future__ import annotations

import base64
import socket
import time

import pytest

from engine.llm import LLMError, LLMReply, OpenAIBackend, OpenAIConfig, TextDelta, complete
from tests.openai_server import Behaviour, FakeOpenAI

SECRET = "sk-test-secret-never-shown-0123456789"
MESSAGES = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "write code"},
]


def backend(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, **kw: object) -> OpenAIBackend:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = dict(model="test-model", base_url=server.url, temperature=0.3, max_tokens=256)
    cfg.update(kw)
    return OpenAIBackend(OpenAIConfig(**cfg))  # type: ignore[arg-type]


async def collect(
    b: OpenAIBackend, images: list[bytes] | None = None
) -> tuple[list[TextDelta], LLMReply]:
    """All deltas and the reply; also checks the stream contract (via complete())."""
    deltas: list[TextDelta] = []
    reply = await complete(b, MESSAGES, images=images, on_delta=deltas.append)
    return deltas, reply


# -- normal replies ---------------------------------------------------------------------------


async def test_streamed_reply_arrives_in_pieces_with_usage_and_timing(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "Here is the plan.\n```python\nrobot.move_to(0.1, 0.2, 0.3)\n```\n"
    openai_server.push(Behaviour.reply(text, chunk_delay_s=0.03))
    b = backend(openai_server, monkeypatch)
    arrivals: list[float] = []
    pieces: list[str] = []
    reply = None
    async for item in b.stream(MESSAGES):
        if isinstance(item, TextDelta):
            arrivals.append(time.monotonic())
            pieces.append(item.text)
        else:
            reply = item
    assert reply is not None and reply.text == text == "".join(pieces)
    assert len(pieces) > 5
    # Incremental: the first piece came well before the last one was even sent.
    assert arrivals[-1] - arrivals[0] > 0.2
    assert reply.prompt_tokens == 42 and reply.completion_tokens == len(text) // 4
    assert reply.finish_reason == "stop" and reply.retries == []
    assert reply.backend == "openai" and reply.model == "test-model" and not reply.synthetic
    assert reply.reasoning is None
    assert 0 < reply.first_token_s < reply.latency_s  # type: ignore[operator]
    assert reply.latency_s >= 0.03 * (len(pieces) - 1)

    sent = openai_server.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "test-model" and sent.body["temperature"] == 0.3
    assert sent.body["max_tokens"] == 256 and sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == MESSAGES
    assert sent.headers["authorization"] == f"Bearer {SECRET}"


async def test_optional_request_fields(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(
        openai_server,
        monkeypatch,
        temperature=None,
        max_tokens_param="max_completion_tokens",
        extra_body={"top_k": 5},
    )
    await collect(b)
    body = openai_server.requests[-1].body
    assert "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 256 and body["top_k"] == 5


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_is_kept_apart_from_the_text(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    openai_server.push(
        Behaviour.reply("FINISH", reasoning="the cube is above 5 cm", reasoning_field=field)
    )
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.reasoning == "the cube is above 5 cm"
    assert reply.text == "FINISH" and "".join(d.text for d in deltas) == "FINISH"


async def test_server_without_usage_gives_none(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.reply("ok", usage=False), Behaviour.reply("ok"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "ok" and reply.prompt_tokens is None and reply.completion_tokens is None
    _, reply = await collect(backend(openai_server, monkeypatch, include_usage=False))
    assert "stream_options" not in openai_server.requests[-1].body
    assert reply.prompt_tokens is None


async def test_reply_without_code_is_just_text(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.reply("I think the task is done."))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "I think the task is done." and reply.retries == []


async def test_reported_model_is_kept(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.reply("ok", model="test-model-2026-01-01"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.model == "test-model-2026-01-01"


# -- retries by the client, recorded ----------------------------------------------------------


async def test_429_with_retry_after_is_retried_and_recorded(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.error(429, retry_after="0.1"), Behaviour.reply("FINISH"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "FINISH" and len(openai_server.requests) == 2
    [r] = reply.retries
    assert (r.attempt, r.status, r.retry_after_s) == (1, 429, 0.1)
    assert "429" in r.reason and "rate limited" in r.reason
    assert r.wait_s is not None and 0.09 <= r.wait_s < 1.0
    assert abs(r.at - time.time()) < 10
    assert reply.latency_s >= 0.1


async def test_500_then_success_uses_client_backoff(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.error(500), Behaviour.reply("ok"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    [r] = reply.retries
    assert r.status == 500 and r.retry_after_s is None and "server error" in r.reason
    assert r.wait_s is not None and r.wait_s > 0.2  # the client's own backoff (~0.4-0.5 s)


async def test_persistent_5xx_gives_up_after_max_retries(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.default = Behaviour.error(503, retry_after="0.01", message="overloaded")
    with pytest.raises(LLMError, match="HTTP 503 after 3 attempts: overloaded") as info:
        await collect(backend(openai_server, monkeypatch, max_retries=2))
    assert len(openai_server.requests) == 3
    assert [(r.attempt, r.status) for r in info.value.retries] == [(1, 503), (2, 503)]
    assert info.value.kind == "http" and info.value.status == 503
    assert "\n" not in str(info.value)


async def test_client_errors_are_not_retried(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.error(404, message="model not found"))
    with pytest.raises(LLMError, match="HTTP 404: model not found") as info:
        await collect(backend(openai_server, monkeypatch))
    assert len(openai_server.requests) == 1 and info.value.retries == []


async def test_stall_times_out_and_is_retried(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.stall(1.0), Behaviour.reply("on time"))
    _, reply = await collect(backend(openai_server, monkeypatch, timeout_s=0.3, max_retries=2))
    assert reply.text == "on time" and len(openai_server.requests) == 2
    [r] = reply.retries
    assert r.status is None and r.reason.startswith("timeout") and "0.3 s" in r.reason


async def test_persistent_stall_is_a_timeout_error(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.default = Behaviour.stall(2.0)
    with pytest.raises(LLMError, match=r"no response from .* within 0.2 s \(2 attempts\)") as info:
        await collect(backend(openai_server, monkeypatch, timeout_s=0.2, max_retries=1))
    assert info.value.kind == "timeout"
    assert [r.reason.split()[0] for r in info.value.retries] == ["timeout"]


async def test_dead_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    url = f"http://127.0.0.1:{port}/v1"
    b = OpenAIBackend(OpenAIConfig(model="m", base_url=url, max_retries=1, timeout_s=2))
    with pytest.raises(LLMError, match=f"cannot reach {url} .*2 attempts") as info:
        await collect(b)
    assert info.value.kind == "connection"
    [r] = info.value.retries
    assert r.status is None and r.reason.startswith("connection error")


# -- broken streams and empty replies: retried once here ---------------------------------------

LONG = "x = 1\n" * 20


@pytest.mark.parametrize(
    ("cut", "reason"),
    [("abort", "stream broke off after 12 chars"), ("eof", "without a finish_reason")],
)
async def test_truncated_stream_is_retried_once_with_a_restart(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, cut: str, reason: str
) -> None:
    openai_server.push(Behaviour.truncate(LONG, after=2, cut=cut), Behaviour.reply(LONG))
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == LONG and len(openai_server.requests) == 2
    [r] = reply.retries
    assert reason in r.reason and r.status is None and r.attempt == 1
    restarts = [i for i, d in enumerate(deltas) if d.restart]
    assert len(restarts) == 1 and deltas[restarts[0]].text == ""
    assert "".join(d.text for d in deltas[: restarts[0]]) == LONG[:12]


async def test_truncated_twice_is_an_error(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.default = Behaviour.truncate(LONG)
    with pytest.raises(LLMError, match="stream broke off .*gave up after 1 retry") as info:
        await collect(backend(openai_server, monkeypatch))
    assert info.value.kind == "truncated" and len(openai_server.requests) == 2
    assert len(info.value.retries) == 1


async def test_cut_before_any_text_retries_without_restart(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.truncate(LONG, after=0), Behaviour.reply("ok"))
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "ok" and not any(d.restart for d in deltas)
    assert len(reply.retries) == 1


async def test_mid_stream_stall_is_a_broken_stream(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(
        Behaviour.stall_mid_stream(LONG, after=3, seconds=1.0), Behaviour.reply(LONG)
    )
    deltas, reply = await collect(backend(openai_server, monkeypatch, timeout_s=0.3))
    assert reply.text == LONG
    [r] = reply.retries
    assert r.reason == "stream stalled: no data for 0.3 s after 18 chars"
    assert any(d.restart for d in deltas)


async def test_keep_alive_comments_do_not_hold_off_the_timeout(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenRouter-style ": keep-alive" comments keep bytes flowing but carry no data: a hung
    # upstream must still time out (it used to wait out the whole stall).
    openai_server.push(
        Behaviour.stall_mid_stream(LONG, after=3, seconds=10, keepalive_s=0.05),
        Behaviour.reply(LONG),
    )
    deltas, reply = await collect(backend(openai_server, monkeypatch, timeout_s=0.5))
    assert reply.text == LONG
    [r] = reply.retries
    assert r.reason == "stream stalled: no data for 0.5 s after 18 chars"
    assert any(d.restart for d in deltas)


def _sse(*bodies: bytes) -> bytes:
    return b"".join(b"data: " + body + b"\n\n" for body in bodies)


async def test_fields_of_the_wrong_type_are_ignored_not_raised(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = _sse(
        b'{"model": 7, "system_fingerprint": 8, "choices": [{"index": 0, '
        b'"delta": {"content": 5, "refusal": 1}, "finish_reason": 9}]}',
        b'{"choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": true}}',
    )
    openai_server.push(Behaviour("reply", text="all fine", raw=odd, usage=False))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "all fine" and reply.finish_reason == "stop"
    assert reply.model == "test-model" and reply.system_fingerprint is None
    assert reply.prompt_tokens is None and reply.completion_tokens is None


async def test_the_reply_text_is_always_valid_unicode(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # JSON escapes: a surrogate pair split over two chunks, then a lone low surrogate.
    split = _sse(
        b'{"choices": [{"index": 0, "delta": {"content": "\\ud83d"}}]}',
        b'{"choices": [{"index": 0, "delta": {"content": "\\ude00!"}}]}',
        b'{"choices": [{"index": 0, "delta": {"content": " \\udc00 \\ud83d"}}]}',
    )
    openai_server.push(Behaviour("reply", text="ab", chunk_chars=1, raw=split))
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "a\U0001f600! \ufffd \ufffdb"
    reply.text.encode("utf-8")  # storable, runnable, showable
    assert all(d.text.encode("utf-8") is not None for d in deltas)


async def test_stream_retries_zero_fails_at_once(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.truncate(LONG, cut="eof"), Behaviour.reply("never asked"))
    with pytest.raises(LLMError, match="without a finish_reason after 12 chars") as info:
        await collect(backend(openai_server, monkeypatch, stream_retries=0))
    assert len(openai_server.requests) == 1 and info.value.retries == []


async def test_empty_reply_is_retried_once_then_an_error(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.empty(), Behaviour.reply("FINISH"))
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "FINISH" and [r.reason for r in reply.retries] == [
        "empty reply (finish_reason=stop)"
    ]
    assert not any(d.restart for d in deltas)

    openai_server.push(Behaviour.empty(), Behaviour.reply("  \n\n "))  # whitespace is empty too
    with pytest.raises(LLMError, match="empty reply") as info:
        await collect(backend(openai_server, monkeypatch))
    assert info.value.kind == "empty" and len(info.value.retries) == 1


async def test_empty_reply_at_the_token_limit_says_so_and_is_not_retried(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(Behaviour.empty(reasoning="thinking " * 50, finish_reason="length"))
    with pytest.raises(LLMError, match=r"token limit \(max_tokens=256\) after 450 chars") as info:
        await collect(backend(openai_server, monkeypatch))
    assert len(openai_server.requests) == 1 and info.value.retries == []


async def test_retry_records_of_both_levels_are_in_order(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.push(
        Behaviour.error(429, retry_after="0.01"),
        Behaviour.truncate(LONG),
        Behaviour.error(502, retry_after="0.01"),
        Behaviour.reply("ok"),
    )
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert [(r.attempt, r.status) for r in reply.retries] == [(1, 429), (2, None), (3, 502)]


# -- vision -----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


async def test_vision_models_receive_the_frames(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [*MESSAGES, {"role": "assistant", "content": "ok"}]
    b = backend(openai_server, monkeypatch, vision=True)
    async for _ in b.stream(messages, images=[PNG, PNG]):
        pass
    sent = openai_server.requests[-1].body["messages"]
    content = sent[1]["content"]  # the last *user* message, not the assistant one
    assert content[0] == {"type": "text", "text": "write code"}
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert content[1:] == [{"type": "image_url", "image_url": {"url": url}}] * 2
    assert sent[2] == {"role": "assistant", "content": "ok"}
    assert messages[1]["content"] == "write code"  # the caller's messages are not changed


async def test_images_are_ignored_without_vision(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await collect(backend(openai_server, monkeypatch, vision=False), images=[PNG])
    assert openai_server.requests[-1].body["messages"] == MESSAGES


# -- keys -------------------------------------------------------------------------------------


async def test_the_api_key_never_shows(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(openai_server, monkeypatch)
    _, reply = await collect(b)
    assert SECRET not in repr(b) and SECRET not in repr(vars(b)) and SECRET not in repr(reply)
    # The server rejects the key and, like real providers, echoes it in the error message.
    openai_server.api_key = "sk-the-right-one"
    with pytest.raises(LLMError, match="HTTP 401: Incorrect API key provided") as info:
        await collect(b)
    err = info.value
    assert err.kind == "auth" and "check OPENAI_API_KEY" in str(err)
    for shown in (str(err), repr(err), repr(err.retries), repr(vars(err))):
        assert SECRET not in shown


def test_missing_key_for_openai_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="^no API key: set OPENAI_API_KEY ") as info:
        OpenAIBackend(OpenAIConfig(model="gpt-4o-mini"))
    assert "\n" not in str(info.value) and info.value.kind == "config"
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(LLMError, match="set MY_KEY"):
        OpenAIBackend(OpenAIConfig(model="gpt-4o-mini", api_key_env="MY_KEY"))


async def test_local_endpoint_from_env_needs_no_key(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    b = OpenAIBackend(OpenAIConfig(model="llama"))
    _, reply = await collect(b)
    assert reply.text == "ok" and b.base_url == openai_server.url
    assert openai_server.requests[-1].headers["authorization"] == "Bearer not-needed"


# -- the test server itself -------------------------------------------------------------------


async def test_server_also_answers_without_streaming(openai_server: FakeOpenAI) -> None:
    import openai

    openai_server.push(Behaviour.reply("plain", reasoning="why"))
    async with openai.AsyncOpenAI(api_key="k", base_url=openai_server.url) as client:
        done = await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "plain" and done.usage is not None
    assert done.choices[0].message.model_extra == {"reasoning_content": "why"}
