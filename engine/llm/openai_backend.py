"""Any OpenAI-compatible chat endpoint (OpenAI, OpenRouter, vLLM, Ollama) through the official client.

Streaming chat completions. Retries on 429/5xx/timeouts are the client's own (``max_retries``,
exponential backoff, ``Retry-After`` honoured); an httpx event hook records every retried
attempt so the trial keeps a log of them. A stream that breaks off or an empty reply is retried
once here (recorded too), then reported as an :class:`LLMError`. The API key is read from the
environment variable the config names and is never stored, logged or shown.
"""

from __future__ import annotations

import base64
import contextvars
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import openai

from engine.llm.base import LLMError, LLMReply, RetryRecord, TextDelta

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


@dataclass
class OpenAIConfig:
    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = 1.0
    max_tokens: int | None = 4096
    timeout_s: float = 120.0
    max_retries: int = 4
    vision: bool = False


class _AttemptLog:
    """Requests and responses of one call, filled by the httpx hooks."""

    def __init__(self) -> None:
        self.requests = 0
        self.pending_response = False
        self.retries: list[RetryRecord] = []

    def on_request(self) -> None:
        if self.requests > 0 and self.pending_response:
            # The previous attempt never got a response: the client timed out and retried.
            self.retries.append(RetryRecord(self.requests, "timeout", None, None, time.time()))
        self.requests += 1
        self.pending_response = True

    def on_response(self, status: int, retry_after: str | None) -> None:
        self.pending_response = False
        if status == 429 or status >= 500 or status in (408, 409):
            wait = None
            if retry_after:
                try:
                    wait = float(retry_after)
                except ValueError:
                    wait = None
            reason = "rate limited" if status == 429 else f"server error {status}"
            self.retries.append(RetryRecord(self.requests, reason, status, wait, time.time()))


_current: contextvars.ContextVar[_AttemptLog | None] = contextvars.ContextVar(
    "autocapx_llm_attempts", default=None
)


async def _on_request(request: object) -> None:
    log = _current.get()
    if log is not None:
        log.on_request()


async def _on_response(response: object) -> None:
    log = _current.get()
    if log is not None:
        log.on_response(response.status_code, response.headers.get("retry-after"))


def resolve_endpoint(config: OpenAIConfig) -> tuple[str, str]:
    """(base_url, api_key) from config and environment; raises LLMError if no key is available."""
    base_url = config.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL
    key = os.environ.get(config.api_key_env, "")
    if not key:
        if base_url.rstrip("/") == OPENAI_DEFAULT_URL:
            raise LLMError(
                f"no API key: set {config.api_key_env} (or point base_url at a local server)"
            )
        key = "not-needed"  # local servers (vLLM, Ollama) accept any key
    return base_url, key


class OpenAIBackend:
    """Streams chat completions from an OpenAI-compatible endpoint."""

    name = "openai"
    synthetic = False

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.model = config.model
        self.base_url, key = resolve_endpoint(config)
        http = openai.DefaultAsyncHttpxClient(
            event_hooks={"request": [_on_request], "response": [_on_response]}
        )
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            http_client=http,
        )

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def _with_images(self, messages: list[dict], images: list[bytes] | None) -> list[dict]:
        if not (images and self.config.vision):
            return messages
        out = [dict(m) for m in messages]
        last = out[-1]
        parts = [{"type": "text", "text": last["content"]}]
        for png in images:
            url = "data:image/png;base64," + base64.b64encode(png).decode()
            parts.append({"type": "image_url", "image_url": {"url": url}})
        last["content"] = parts
        return out

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        log = _AttemptLog()
        token = _current.set(log)
        try:
            for attempt in (1, 2):
                state: dict = {}
                async for item in self._one_stream(self._with_images(messages, images), log, state):
                    yield item
                problem = state.get("problem")
                if problem is None:
                    return
                log.retries.append(RetryRecord(log.requests, problem, None, None, time.time()))
                yield TextDelta(f"\n[{problem}; asking again]\n")
                if attempt == 2:
                    raise LLMError(f"{self.model}: {problem} (after a retry)", log.retries)
        finally:
            _current.reset(token)

    async def _one_stream(
        self, messages: list[dict], log: _AttemptLog, state: dict
    ) -> AsyncIterator[TextDelta | LLMReply]:
        cfg = self.config
        kwargs: dict = {"model": cfg.model, "messages": messages, "stream": True}
        kwargs["stream_options"] = {"include_usage": True}
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        if cfg.max_tokens is not None:
            kwargs["max_tokens"] = cfg.max_tokens
        t0 = time.perf_counter()
        first: float | None = None
        text: list[str] = []
        reasoning: list[str] = []
        finish = None
        usage = None
        try:
            stream = await self._client.chat.completions.create(**kwargs)
            async for chunk in stream:
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    delta = choice.delta
                    extra = getattr(delta, "model_extra", None) or {}
                    thought = extra.get("reasoning_content") or extra.get("reasoning")
                    if isinstance(thought, str) and thought:
                        reasoning.append(thought)
                    if delta.content:
                        if first is None:
                            first = time.perf_counter() - t0
                        text.append(delta.content)
                        yield TextDelta(delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except openai.APITimeoutError:
            raise LLMError(
                f"{cfg.model}: no answer within {cfg.timeout_s:g} s after {cfg.max_retries} retries",
                log.retries,
            ) from None
        except openai.APIStatusError as exc:
            message = _short(exc)
            raise LLMError(f"{cfg.model}: HTTP {exc.status_code}: {message}", log.retries) from None
        except openai.APIConnectionError as exc:
            if text:  # the connection broke in the middle of the stream
                state["problem"] = "stream broke off before the reply was complete"
                return
            raise LLMError(
                f"{cfg.model}: cannot reach {self.base_url} ({_short(exc)})", log.retries
            ) from None
        except openai.OpenAIError as exc:
            raise LLMError(f"{cfg.model}: {_short(exc)}", log.retries) from None
        if finish is None:
            state["problem"] = "stream ended before the reply was complete"
            return
        if not "".join(text).strip():
            state["problem"] = "empty reply"
            return
        yield LLMReply(
            text="".join(text),
            model=cfg.model,
            backend=self.name,
            synthetic=False,
            reasoning="".join(reasoning) or None,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            latency_s=time.perf_counter() - t0,
            first_token_s=first,
            finish_reason=finish,
            retries=list(log.retries),
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
