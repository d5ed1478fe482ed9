"""One async streaming interface for every LLM backend (openai, synthetic, replay).

``backend.stream(messages)`` yields :class:`TextDelta` pieces as they arrive and then exactly
one :class:`LLMReply` with the whole text, reasoning if the model gave any, token usage,
latency and every retry. Failures after the backend's own retries raise :class:`LLMError`
with a one-line reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TextDelta:
    """A streamed piece of the reply."""

    text: str


@dataclass
class RetryRecord:
    """One retried request: why, the HTTP status if any, how long the client waited."""

    attempt: int
    reason: str
    status: int | None = None
    wait_s: float | None = None
    at: float = 0.0


@dataclass
class LLMReply:
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


class LLMError(Exception):
    """The backend could not produce a reply; the message is one line for people."""

    def __init__(self, message: str, retries: list[RetryRecord] | None = None) -> None:
        super().__init__(message)
        self.retries = list(retries or [])


class Backend(Protocol):
    name: str
    model: str
    synthetic: bool

    def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]: ...
