"""The real openai client against a local OpenAI-compatible server: streaming, retries, failures."""

from __future__ import annotations

import base64

import pytest

from engine.llm.base import LLMError, LLMReply, TextDelta
from engine.llm.openai_backend import OpenAIBackend, OpenAIConfig
from tests.openai_server import Behaviour

SECRET = "sk-test-secret-never-shown"
MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "write code"}]


def backend(server, monkeypatch, **kw) -> OpenAIBackend:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = OpenAIConfig(
        model="test-model", base_url=server.url, temperature=0.3, max_tokens=256, **kw
    )
    return OpenAIBackend(cfg)


async def collect(b: OpenAIBackend, images=None) -> tuple[list[str], LLMReply]:
    deltas, reply = [], None
    async for item in b.stream(MESSAGES, images=images):
        if isinstance(item, TextDelta):
            deltas.append(item.text)
        else:
            reply = item
    assert reply is not None
    return deltas, reply


async def test_streamed_reply_arrives_in_pieces_with_usage(openai_server, monkeypatch) -> None:
    text = "REGENERATE\n```python\nprint('hello robot')\n```"
    openai_server.push(Behaviour(text=text, chunk_delay_s=0.01))
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert len(deltas) > 5 and "".join(deltas) == text == reply.text
    assert reply.prompt_tokens == 42 and reply.completion_tokens == len(deltas)
    assert reply.finish_reason == "stop" and reply.retries == []
    assert reply.latency_s > 0.05 and 0 < reply.first_token_s < reply.latency_s
    sent = openai_server.requests[-1].body
    assert (
        sent["model"] == "test-model" and sent["temperature"] == 0.3 and sent["max_tokens"] == 256
    )
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"


async def test_reasoning_is_kept_apart_from_the_text(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour(text="FINISH", reasoning="the cube is up"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "FINISH" and reply.reasoning == "the cube is up"


async def test_429_with_retry_after_is_retried_and_recorded(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour("error", status=429, retry_after="0.1"), Behaviour(text="FINISH"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "FINISH"
    assert [(r.status, r.wait_s, r.reason) for r in reply.retries] == [(429, 0.1, "rate limited")]
    assert len(openai_server.requests) == 2


async def test_500_then_success(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour("error", status=500, retry_after="0.05"), Behaviour(text="ok"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert [r.status for r in reply.retries] == [500]


async def test_persistent_500_gives_up_after_max_retries(openai_server, monkeypatch) -> None:
    openai_server.default = Behaviour("error", status=503, retry_after="0.01")
    with pytest.raises(LLMError, match="HTTP 503") as info:
        await collect(backend(openai_server, monkeypatch, max_retries=2))
    assert len(openai_server.requests) == 3
    assert [r.status for r in info.value.retries] == [503, 503, 503]


async def test_stall_times_out_and_is_retried(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour("stall", stall_s=1.5, text="late"), Behaviour(text="on time"))
    _, reply = await collect(backend(openai_server, monkeypatch, timeout_s=0.5, max_retries=2))
    assert reply.text == "on time"
    assert [r.reason for r in reply.retries] == ["timeout"]


async def test_truncated_stream_is_retried_once_then_fails(openai_server, monkeypatch) -> None:
    long = "x = 1\n" * 40
    openai_server.push(Behaviour("truncate", text=long), Behaviour(text=long))
    deltas, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == long
    assert [r.reason for r in reply.retries] == [
        "stream broke off before the reply was complete"
    ] or [r.reason for r in reply.retries] == ["stream ended before the reply was complete"]
    assert any("asking again" in d for d in deltas)
    openai_server.push(Behaviour("truncate", text=long), Behaviour("truncate", text=long))
    with pytest.raises(LLMError, match="before the reply was complete"):
        await collect(backend(openai_server, monkeypatch))


async def test_empty_reply_is_an_error_after_one_retry(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour("empty"), Behaviour("empty"))
    with pytest.raises(LLMError, match="empty reply"):
        await collect(backend(openai_server, monkeypatch))
    openai_server.push(Behaviour("empty"), Behaviour(text="FINISH"))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "FINISH" and [r.reason for r in reply.retries] == ["empty reply"]


async def test_reply_without_code_is_just_text(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour(text="I think the task is done."))
    _, reply = await collect(backend(openai_server, monkeypatch))
    assert reply.text == "I think the task is done."


async def test_vision_models_receive_the_frames(openai_server, monkeypatch) -> None:
    png = b"\x89PNG fake bytes"
    openai_server.push(Behaviour(text="ok"), Behaviour(text="ok"))
    await collect(backend(openai_server, monkeypatch, vision=True), images=[png, png])
    content = openai_server.requests[-1].body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "write code"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert urls == ["data:image/png;base64," + base64.b64encode(png).decode()] * 2
    await collect(backend(openai_server, monkeypatch, vision=False), images=[png])
    assert openai_server.requests[-1].body["messages"][-1]["content"] == "write code"


async def test_the_api_key_never_shows(openai_server, monkeypatch) -> None:
    openai_server.push(Behaviour(text="ok"))
    b = backend(openai_server, monkeypatch)
    _, reply = await collect(b)
    assert SECRET not in repr(b) and SECRET not in repr(reply)
    openai_server.default = Behaviour("error", status=401)
    with pytest.raises(LLMError) as info:
        await collect(b)
    assert SECRET not in str(info.value)


def test_missing_key_for_openai_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="no API key: set OPENAI_API_KEY"):
        OpenAIBackend(OpenAIConfig(model="gpt-4o-mini"))


async def test_dead_endpoint_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    b = OpenAIBackend(
        OpenAIConfig(model="m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2)
    )
    with pytest.raises(LLMError, match="cannot reach http://127.0.0.1:9/v1"):
        await collect(b)
