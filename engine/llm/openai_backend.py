"""Any OpenAI-compatible chat endpoint (OpenAI, OpenRouter, vLLM, Ollama) via the official client.

Why it is built this way:

* Retries on 429 / 408 / 409 / 5xx / timeouts / connection errors are the ``openai`` client's
  own (``max_retries``, exponential backoff, Retry-After honoured). To *record* them we give the
  client an http client whose ``send`` notes every attempt: the status and Retry-After of each
  response, or the exception (timeout vs connection error) of attempts that got none. httpx
  event hooks would see responses but not attempts that died on an exception, so a stall and
  a refused connection would look alike. Every attempt but the last of a client call was
  retried by the client and becomes a :class:`RetryRecord`.
* A stream that breaks off (connection cut, no data for ``timeout_s``, body ends without a
  ``finish_reason``, malformed chunk) or an empty reply is retried here, ``stream_retries``
  times (default once), recorded as a RetryRecord with ``status=None``. If text was already
  streamed, a ``TextDelta("", restart=True)`` tells the consumer to discard it. When the
  retries are used up it raises :class:`LLMError` (kind ``truncated`` / ``empty``). An empty
  reply that stopped at ``max_tokens`` or a content filter is not retried (it would repeat).
  A reply with no code in it is not an error here: it is just text. "No data" means no
  stream *event*: SSE comments (the keep-alives OpenRouter sends while a model is busy) do not
  count, so a hung upstream behind a proxy that keeps the connection warm still times out.
* What the server sends is not trusted to be well typed: fields of the wrong type are ignored
  (never an exception out of the backend), and the text is always valid Unicode: a surrogate
  pair that the server split across two chunks (as JSON ``\\ud83d`` then ``\\ude00``) is joined,
  and a lone surrogate becomes U+FFFD, so the reply can be run, stored and shown.
* A fresh client (and connection pool) per call: the backend holds no sockets, works across
  ``asyncio.run`` calls and event loops, needs no ``close()``, and concurrent calls keep
  separate retry logs. The extra TLS handshake is small next to an LLM's latency.
* The API key is read from the environment variable the config names at each call and is
  never stored on the backend, logged, or shown: error messages are scrubbed of it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai

from engine.llm.base import LLMError, LLMReply, RetryRecord, TextDelta

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
NO_KEY_PLACEHOLDER = "not-needed"  # local servers (vLLM, Ollama) accept any key


@dataclass(frozen=True)
class OpenAIConfig:
    """How to reach the model. No key in here: only the name of the variable that holds it.

    ``timeout_s`` bounds each wait for the server (connect, first byte, and every gap between
    streamed chunks; SSE keep-alive comments are no chunk), not the whole reply, so long
    generations are fine while tokens flow.
    ``temperature=None`` / ``max_tokens=None`` leave them out of the request (some reasoning
    models reject them); ``max_tokens_param="max_completion_tokens"`` for newer OpenAI models.
    ``extra_body`` is merged into the request for provider options (e.g. OpenRouter reasoning).
    """

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = 1.0
    max_tokens: int | None = 4096
    timeout_s: float = 120.0
    max_retries: int = 4
    vision: bool = False
    stream_retries: int = 1
    include_usage: bool = True
    max_tokens_param: str = "max_tokens"
    extra_body: dict[str, Any] | None = field(default=None, hash=False)


def resolve_base_url(config: OpenAIConfig) -> str:
    """Config first, then ``$OPENAI_BASE_URL``, then OpenAI itself."""
    return (config.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL).rstrip("/")


def display_url(url: str) -> str:
    """The URL without user info, query or fragment, safe to show in messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url


def _needs_real_key(base_url: str) -> bool:
    return urlsplit(base_url).hostname == "api.openai.com"


def _api_key(config: OpenAIConfig, base_url: str) -> str:
    key = os.environ.get(config.api_key_env, "").strip()
    if key:
        return key
    if _needs_real_key(base_url):
        raise LLMError(
            f"no API key: set {config.api_key_env} (or set base_url / OPENAI_BASE_URL to a "
            "local OpenAI-compatible server, which needs none)",
            kind="config",
        )
    return NO_KEY_PLACEHOLDER


@dataclass
class _Attempt:
    number: int
    started: float
    ended: float = 0.0
    at: float = 0.0
    status: int | None = None
    retry_after_s: float | None = None
    error: str | None = None

    def finish(self) -> None:
        self.ended, self.at = time.monotonic(), time.time()


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Retry-After in seconds as the client reads it (``retry-after-ms`` first); dates → None."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / divisor
            except ValueError:
                continue
    return None


class _RecordingHttpxClient(openai.DefaultAsyncHttpxClient):
    """The SDK's default httpx client, noting the outcome of every attempt the SDK makes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attempts: list[_Attempt] = []

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        attempt = _Attempt(len(self.attempts) + 1, time.monotonic())
        self.attempts.append(attempt)
        try:
            response = await super().send(request, **kwargs)
        except httpx2.TimeoutException:
            attempt.error = "timeout"
            attempt.finish()
            raise
        except httpx2.TransportError as exc:
            attempt.error = f"connection error ({type(exc).__name__})"
            attempt.finish()
            raise
        attempt.status = response.status_code
        attempt.retry_after_s = _retry_after(response.headers)
        attempt.finish()
        return response


def _mime(image: bytes) -> str:
    if image.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def attach_images(messages: list[dict], images: list[bytes]) -> list[dict]:
    """A copy of ``messages`` with the images appended to the last user message as data URLs."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") == "user":
            content = out[i].get("content")
            parts: list[Any] = (
                list(content)
                if isinstance(content, list)
                else [{"type": "text", "text": content or ""}]
            )
            for image in images:
                url = f"data:{_mime(image)};base64,{base64.b64encode(image).decode('ascii')}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
            out[i] = {**out[i], "content": parts}
            return out
    raise LLMError("images given but there is no user message to attach them to", kind="config")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _whole_chars(text: str, *, final: bool = True) -> tuple[str, str]:
    """``text`` as valid Unicode: surrogate pairs joined, lone surrogates made U+FFFD. Unless
    ``final``, a trailing high surrogate is held back (returned second): its low half may be
    the first character of the next chunk."""
    held = ""
    if not final and text and "\ud800" <= text[-1] <= "\udbff":
        text, held = text[:-1], text[-1]
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text, held


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(usage: Any, name: str) -> int | None:
    """A token count from the usage chunk, if the server sent a whole non-negative number."""
    value = getattr(usage, name, None)
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


class _Idle(Exception):
    """No stream event for ``timeout_s`` (though the connection may be kept alive)."""


def _reasoning_piece(delta: Any) -> str:
    """Reasoning text of a delta: ``reasoning_content`` (DeepSeek, vLLM) or ``reasoning``
    (OpenRouter, Ollama, newer vLLM). One of them per delta, so servers that send both don't
    double it."""
    extra = getattr(delta, "model_extra", None) or {}
    for name in ("reasoning_content", "reasoning"):
        value = extra.get(name, getattr(delta, name, None))
        if isinstance(value, str) and value:
            return value
    return ""


def _delta_parts(delta: Any) -> tuple[str, str]:
    """(reasoning, text) of a streamed delta; a refusal counts as text (the model's answer)."""
    if delta is None:
        return "", ""
    text = (_str(getattr(delta, "content", None)) or "") + (
        _str(getattr(delta, "refusal", None)) or ""
    )
    return _reasoning_piece(delta), text


@dataclass
class _Round:
    """What one request's stream produced."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish: str | None = None
    usage: Any = None
    model: str | None = None
    fingerprint: str | None = None
    served_extra: dict = field(default_factory=dict)
    first_token: float | None = None
    problem: str | None = None  # why the stream is unusable (then maybe retried)
    kind: str = ""  # truncated | empty
    retry: bool = True


class OpenAIBackend:
    """Streams chat completions from an OpenAI-compatible endpoint."""

    name = "openai"
    synthetic = False

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.model = config.model
        self.base_url = resolve_base_url(config)
        if config.timeout_s <= 0 or config.max_retries < 0 or config.stream_retries < 0:
            raise LLMError(
                "openai backend: timeout_s must be > 0, max_retries and stream_retries >= 0",
                kind="config",
            )
        _api_key(config, self.base_url)  # fail now, before a sweep starts, if there is no key

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={display_url(self.base_url)!r})"

    def _request(self, messages: list[dict], images: list[bytes] | None) -> dict[str, Any]:
        cfg = self.config
        if images and cfg.vision:
            messages = attach_images(messages, images)
        kwargs: dict[str, Any] = {"model": cfg.model, "messages": messages, "stream": True}
        if cfg.include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        extra = dict(cfg.extra_body or {})
        if cfg.max_tokens is not None:
            if cfg.max_tokens_param == "max_tokens":
                kwargs["max_tokens"] = cfg.max_tokens
            else:
                extra[cfg.max_tokens_param] = cfg.max_tokens
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    async def stream(
        self, messages: list[dict], *, images: list[bytes] | None = None
    ) -> AsyncIterator[TextDelta | LLMReply]:
        """Yield the reply as it streams, then the LLMReply; LLMError once retries are spent."""
        cfg = self.config
        t0 = time.monotonic()
        key = _api_key(cfg, self.base_url)
        request = self._request(messages, images)
        http = _RecordingHttpxClient()
        retries: list[RetryRecord] = []
        seen = 0  # attempts already turned into records
        streamed = False  # any TextDelta yielded in this call (a retry must then restart)

        def note_client_retries() -> None:
            # Every attempt of a client call except its last one was retried by the client.
            nonlocal seen
            attempts = http.attempts
            for a, nxt in zip(attempts[seen:-1], attempts[seen + 1 :], strict=False):
                retries.append(
                    RetryRecord(
                        attempt=a.number,
                        reason=self._reason(a),
                        status=a.status,
                        wait_s=round(nxt.started - a.ended, 3),
                        at=a.at,
                        retry_after_s=a.retry_after_s,
                    )
                )
            seen = len(attempts)

        client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=httpx2.Timeout(cfg.timeout_s, connect=min(cfg.timeout_s, 10.0)),
            max_retries=cfg.max_retries,
            http_client=http,
        )
        async with client:
            for round_no in range(cfg.stream_retries + 1):
                r = _Round()
                held = ""  # leading whitespace, held back so an empty reply streams nothing
                first_out = True
                in_stream = False  # the request was answered; failures now are mid-stream
                try:
                    try:
                        chunks = await client.chat.completions.create(**request)
                    finally:
                        note_client_retries()
                    in_stream = True
                    async for piece in self._read(chunks, r, t0, cfg.timeout_s):
                        if first_out and not piece.strip():
                            held += piece
                            continue
                        if first_out:
                            first_out = False
                            if streamed:
                                yield TextDelta("", restart=True)
                            streamed = True
                            piece, held = held + piece, ""
                        yield TextDelta(piece)
                except openai.APIStatusError as exc:
                    raise self._status_error(exc, key, retries) from None
                except openai.APIConnectionError as exc:  # includes APITimeoutError
                    if not in_stream:
                        raise self._connect_error(exc, key, retries, len(http.attempts)) from None
                    r.problem, r.kind = self._broken_stream(exc, r), "truncated"
                except _Idle:
                    chars = len("".join(r.text))
                    r.problem = (
                        f"stream stalled: no data for {cfg.timeout_s:g} s after {chars} chars"
                    )
                    r.kind = "truncated"
                except openai.APIError as exc:
                    if not in_stream:
                        raise LLMError(f"{cfg.model}: {_short(exc, key)}", retries) from None
                    r.problem = f"stream error from the server: {_short(exc, key)}"
                    r.kind = "truncated"
                except ValueError as exc:  # malformed SSE chunk (json.JSONDecodeError)
                    if not in_stream:
                        raise
                    r.problem = f"malformed stream chunk ({type(exc).__name__})"
                    r.kind = "truncated"
                if r.problem is None:
                    r.problem, r.kind, r.retry = self._judge(r)
                if r.problem is None:
                    yield self._reply(r, t0, retries)
                    return
                failed = http.attempts[-1] if http.attempts else None
                if not r.retry or round_no == cfg.stream_retries:
                    after = f"; gave up after {round_no} retr{'y' if round_no == 1 else 'ies'}"
                    after = after if round_no else ""
                    raise LLMError(f"{cfg.model}: {r.problem}{after}", retries, kind=r.kind)
                retries.append(
                    RetryRecord(
                        attempt=failed.number if failed else 0,
                        reason=r.problem,
                        status=None,
                        wait_s=0.0,
                        at=time.time(),
                    )
                )

    @staticmethod
    async def _read(
        chunks: AsyncIterator[Any], r: _Round, t0: float, idle_s: float
    ) -> AsyncIterator[str]:
        """Yield the reply text of choice 0 piece by piece; collect the rest into ``r``.
        Raises :class:`_Idle` if no chunk arrives for ``idle_s``."""
        held = ""  # a high surrogate waiting for its low half
        events = aiter(chunks)
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    chunk = await anext(events)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise _Idle from None
            r.model = _str(getattr(chunk, "model", None)) or r.model
            r.fingerprint = _str(getattr(chunk, "system_fingerprint", None)) or r.fingerprint
            extra = getattr(chunk, "model_extra", None)
            if isinstance(extra, dict):  # provider fields beyond OpenAI's (OpenRouter: provider)
                r.served_extra.update(
                    {k: v for k, v in extra.items() if isinstance(v, str | int | float | bool)}
                )
            if getattr(chunk, "usage", None) is not None:
                r.usage = chunk.usage
            for choice in getattr(chunk, "choices", None) or ():
                if getattr(choice, "index", 0) != 0:
                    continue
                thought, piece = _delta_parts(getattr(choice, "delta", None))
                if (thought or piece) and r.first_token is None:
                    r.first_token = time.monotonic() - t0
                if thought:
                    r.reasoning.append(thought)
                if piece:
                    piece, held = _whole_chars(held + piece, final=False)
                if piece:
                    r.text.append(piece)
                    yield piece
                finish = _str(getattr(choice, "finish_reason", None))
                if finish:
                    r.finish = finish
        if held:
            r.text.append("\ufffd")
            yield "\ufffd"

    def _judge(self, r: _Round) -> tuple[str | None, str, bool]:
        """(problem, kind, worth retrying) for a stream that ended normally; problem None = ok."""
        chars = len("".join(r.text))
        if r.finish is None:
            return (
                f"stream ended without a finish_reason after {chars} chars (truncated)",
                "truncated",
                True,
            )
        if "".join(r.text).strip():
            return None, "", True
        thought = len("".join(r.reasoning))
        if r.finish == "length":
            limit = self.config.max_tokens
            return (
                f"empty reply: stopped at the token limit ({self.config.max_tokens_param}={limit})"
                + (f" after {thought} chars of reasoning" if thought else "")
                + "; raise max_tokens",
                "empty",
                False,
            )
        if r.finish == "content_filter":
            return "empty reply: blocked by the provider's content filter", "empty", False
        return f"empty reply (finish_reason={r.finish})", "empty", True

    def _reply(self, r: _Round, t0: float, retries: list[RetryRecord]) -> LLMReply:
        usage = r.usage
        return LLMReply(
            text="".join(r.text),
            model=r.model or self.config.model,
            backend=self.name,
            synthetic=False,
            reasoning=_whole_chars("".join(r.reasoning))[0] or None,
            prompt_tokens=_count(usage, "prompt_tokens"),
            completion_tokens=_count(usage, "completion_tokens"),
            latency_s=time.monotonic() - t0,
            first_token_s=r.first_token,
            finish_reason=r.finish,
            retries=list(retries),
            system_fingerprint=r.fingerprint,
            served_extra=dict(r.served_extra),
        )

    def _reason(self, a: _Attempt) -> str:
        if a.error == "timeout":
            return f"timeout (no response within {self.config.timeout_s:g} s)"
        if a.error:
            return a.error
        label = {429: "rate limited", 408: "request timeout", 409: "conflict"}.get(
            a.status or 0, "server error"
        )
        return f"HTTP {a.status} ({label})"

    def _broken_stream(self, exc: openai.APIConnectionError, r: _Round) -> str:
        chars = len("".join(r.text))
        if isinstance(exc, openai.APITimeoutError):
            return f"stream stalled: no data for {self.config.timeout_s:g} s after {chars} chars"
        cause = exc.__cause__
        what = type(cause).__name__ if cause is not None else "connection lost"
        return f"stream broke off after {chars} chars ({what})"

    def _status_error(
        self, exc: openai.APIStatusError, key: str, retries: list[RetryRecord]
    ) -> LLMError:
        status = exc.status_code
        hint = ""
        if status in (401, 403):
            hint = f" (check {self.config.api_key_env})"
        elif status == 404:
            hint = f" (is model {self.config.model!r} served at {display_url(self.base_url)}?)"
        tries = f" after {len(retries) + 1} attempts" if retries else ""
        return LLMError(
            f"{self.config.model}: HTTP {status}{tries}: {_short(exc, key)}{hint}",
            retries,
            kind="auth" if status in (401, 403) else "http",
            status=status,
        )

    def _connect_error(
        self, exc: openai.APIConnectionError, key: str, retries: list[RetryRecord], attempts: int
    ) -> LLMError:
        where = display_url(self.base_url)
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(
                f"{self.config.model}: no response from {where} within "
                f"{self.config.timeout_s:g} s ({attempts} attempts)",
                retries,
                kind="timeout",
            )
        cause = exc.__cause__
        detail = _short(cause, key) if cause is not None else "connection error"
        return LLMError(
            f"{self.config.model}: cannot reach {where} ({detail}; {attempts} attempts)",
            retries,
            kind="connection",
        )


def _short(exc: BaseException, key: str) -> str:
    """First line of an exception's message (JSON error bodies reduced to their message),
    with the API key scrubbed out, at most 300 chars."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if message is None and isinstance(body.get("message"), str):
            message = body["message"]
    text = str(message if isinstance(message, str) else exc).strip()
    if not text:
        text = type(exc).__name__
    text = text.splitlines()[0] if text.splitlines() else text
    if key and key != NO_KEY_PLACEHOLDER:
        text = text.replace(key, "***")
    return text[:300]


__all__ = ["OpenAIBackend", "OpenAIConfig", "attach_images", "display_url", "resolve_base_url"]
