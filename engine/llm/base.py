"""One async streaming interface for every LLM backend (openai, synthetic, replay).

``backend.stream(messages, images=...)`` is an async generator: it yields :class:`TextDelta`
pieces as they arrive and then exactly one :class:`LLMReply` (the last item) with the whole
text, reasoning if the model gave any, token usage, latency and every retry. Failures that
remain after the backend's own retries raise :class:`LLMError` with a one-line reason.

Contract (checked by :func:`complete`): the texts of the deltas since the last delta with
``restart=True`` join to ``reply.text``. A backend that never retries mid-stream (synthetic,
replay) simply never sets ``restart``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.errors import UserError


@dataclass(frozen=True)
class TextDelta:
    """A streamed piece of the reply text (never reasoning; that arrives in the final reply).

    ``restart=True`` (with empty ``text``) means the stream broke off and the backend asked the
    model again: whatever was shown so far for this call should be discarded.
    """

    text: str
    restart: bool = False


@dataclass
class RetryRecord:
    """One failed attempt that was retried, kept so trials can report flaky endpoints.

    ``attempt`` is the 1-based number of the failed HTTP attempt within the call; ``status`` the
    HTTP status if the server answered (None for timeouts, connection errors, broken streams);
    ``wait_s`` the measured time until the next attempt started; ``at`` wall-clock time
    (``time.time()``) of the failure; ``retry_after_s`` the server's Retry-After, if it sent one.
    """

    attempt: int
    reason: str
    status: int | None = None
    wait_s: float | None = None
    at: float = 0.0
    retry_after_s: float | None = None


@dataclass
class LLMReply:
    """The finished reply of one call.

    ``latency_s`` and ``first_token_s`` are measured from the start of the call, so they include
    retries (they are what the trial actually waited). ``first_token_s`` counts the first text
    or reasoning token. ``model`` is the model the server says answered (else the configured
    one); token counts are None when the server does not report usage.
    """

    text: str
    model: str
    backend: str
    synthetic: bool
    reasoning: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    first_token_s: float | None = None
    finish_reason: str | None = None
    retries: list[RetryRecord] = field(default_factory=list)
    system_fingerprint: str | None = None
    """The server's ``system_fingerprint`` (the backend configuration that answered), if sent."""
    served_extra: dict = field(default_factory=dict)
    """Provider fields beyond OpenAI's that came with the reply (e.g. OpenRouter's provider)."""


class LLMError(UserError):
    """The backend could not produce a reply. The message is one human-readable line.

    A :class:`UserError`, so the CLI prints it as one line; the trial loop catches it to end a
    trial with ``llm_error``. ``kind`` is a short machine label (config, auth, http, timeout,
    connection, truncated, empty, exhausted, protocol); ``retries`` lists what was retried first.
    """

    def __init__(
        self,
        message: str,
        retries: list[RetryRecord] | None = None,
        *,
        kind: str = "error",
        status: int | None = None,
    ) -> None:
        super().__init__(" ".join(str(message).split()))
        self.retries = list(retries or [])
        self.kind = kind
        self.status = status


@runtime_checkable
class Backend(Protocol):
    """What the trial loop needs from a model: a name, a model label and a reply stream."""

    name: str  # backend kind: "openai", "synthetic", "replay"
    model: str
    synthetic: bool  # True only for offline test doubles; shown on every result

    def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        """Yield TextDelta* then exactly one LLMReply; raise LLMError on failure."""
        ...


async def complete(
    backend: Backend,
    messages: list[dict],
    *,
    images: list[bytes] | None = None,
    on_delta: Callable[[TextDelta], None] | None = None,
) -> LLMReply:
    """Drain one call into its reply, passing deltas to ``on_delta``; enforces the contract.

    Use it when you only need the final reply, and in a new backend's tests to check it keeps
    the contract (deltas then exactly one reply, deltas join to the reply text).
    """
    shown: list[str] = []
    reply: LLMReply | None = None
    async for item in backend.stream(messages, images=images):
        if reply is not None:
            raise LLMError(f"{backend.name}: stream went on after its final reply", kind="protocol")
        if isinstance(item, TextDelta):
            if item.restart:
                shown.clear()
            shown.append(item.text)
            if on_delta is not None:
                on_delta(item)
        elif isinstance(item, LLMReply):
            reply = item
        else:
            raise LLMError(f"{backend.name}: stream yielded {type(item).__name__}", kind="protocol")
    if reply is None:
        raise LLMError(f"{backend.name}: stream ended without a final reply", kind="protocol")
    if "".join(shown) != reply.text:
        raise LLMError(
            f"{backend.name}: streamed text differs from the final reply", kind="protocol"
        )
    return reply
