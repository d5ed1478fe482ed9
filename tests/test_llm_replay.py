"""The replay backend, the backend factory and the stream contract helper (all offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.errors import UserError
from engine.llm import (
    Backend,
    LLMError,
    LLMReply,
    OpenAIBackend,
    ReplayBackend,
    TextDelta,
    complete,
    make_backend,
)
from engine.llm.replay import word_pieces

MESSAGES = [{"role": "user", "content": "lift the cube"}]
REPLIES = ["First try:\n```python\nrobot.open_gripper()\n```\n", "FINISH", ""]


async def test_replays_recorded_replies_in_order_in_word_pieces() -> None:
    b = ReplayBackend(REPLIES, model="gpt-recorded")
    assert isinstance(b, Backend) and b.name == "replay" and b.synthetic is False
    for expected in REPLIES:
        deltas: list[TextDelta] = []
        reply = await complete(b, MESSAGES, on_delta=deltas.append)
        assert reply.text == expected == "".join(d.text for d in deltas)
        assert (reply.backend, reply.model, reply.synthetic) == ("replay", "gpt-recorded", False)
        assert reply.finish_reason == "stop" and reply.retries == [] and reply.latency_s >= 0
    assert len(word_pieces(REPLIES[0])) == 6 and b.calls == 3 and b.seen == [MESSAGES] * 3


async def test_running_out_is_an_llm_error() -> None:
    b = ReplayBackend(["only one"])
    await complete(b, MESSAGES)
    with pytest.raises(LLMError, match="no recorded reply left") as info:
        await complete(b, MESSAGES)
    assert info.value.kind == "exhausted" and isinstance(info.value, UserError)


async def test_images_are_accepted_and_ignored() -> None:
    reply = await complete(ReplayBackend(["ok"]), MESSAGES, images=[b"\x89PNG"])
    assert reply.text == "ok"


def test_word_pieces_join_back() -> None:
    text = "  a  b\n\tc  "
    assert word_pieces(text) == ["  a", "  b", "\n\tc", "  "]
    assert "".join(word_pieces(text)) == text and word_pieces("") == []


# -- complete() holds backends to the contract --------------------------------------------------


class _Broken:
    name, model, synthetic = "broken", "m", False

    def __init__(self, items: list[object]) -> None:
        self.items = items

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        for item in self.items:
            yield item  # type: ignore[misc]


def _reply(text: str) -> LLMReply:
    return LLMReply(text=text, model="m", backend="broken", synthetic=False)


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([TextDelta("a")], "without a final reply"),
        ([TextDelta("a"), _reply("b")], "differs from the final reply"),
        ([_reply(""), TextDelta("a")], "went on after its final reply"),
        (["text"], "yielded str"),
    ],
)
async def test_complete_rejects_contract_breaches(items: list[object], problem: str) -> None:
    with pytest.raises(LLMError, match=problem) as info:
        await complete(_Broken(items), MESSAGES)
    assert info.value.kind == "protocol"


async def test_complete_honours_restart() -> None:
    items = [TextDelta("par"), TextDelta("", restart=True), TextDelta("full"), _reply("full")]
    assert (await complete(_Broken(items), MESSAGES)).text == "full"


# -- factory ---------------------------------------------------------------------------------


def test_factory_builds_replay_and_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    b = make_backend("replay", replies=["a", "b"], model="rec", profile="ignored")
    assert isinstance(b, ReplayBackend) and b.replies == ["a", "b"] and b.model == "rec"

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # A whole backbone config, as the sweep runner passes it: keys of other kinds are ignored,
    # "" means default.
    o = make_backend(
        "openai",
        seed=3,
        model="llama",
        base_url="http://127.0.0.1:1/v1",
        profile="strong",
        latency_s_per_token=0.0,
        api_key_env="OPENAI_API_KEY",
        temperature=0.2,
        max_tokens=None,
        timeout_s=30.0,
        max_retries=2,
        vision=True,
    )
    assert isinstance(o, OpenAIBackend)
    assert (o.model, o.config.temperature, o.config.max_tokens) == ("llama", 0.2, None)
    assert (o.config.timeout_s, o.config.max_retries, o.config.vision) == (30.0, 2, True)
    assert o.base_url == "http://127.0.0.1:1/v1"


def test_factory_errors_are_user_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="unknown backend 'claude' .*synthetic, openai, replay"):
        make_backend("claude")
    with pytest.raises(UserError, match="needs a model name"):
        make_backend("openai", model="")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError, match="no API key: set OPENAI_API_KEY"):
        make_backend("openai", model="gpt-4o-mini", base_url="")
