"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests, with scripted misbehaviour.

``POST /v1/chat/completions`` takes the next :class:`Behaviour` from a queue (or ``default``
when the queue is empty) and answers like OpenAI does: ``chat.completion.chunk`` SSE events
over chunked transfer encoding (role chunk, content chunks, finish chunk, usage chunk when the
request asked for it, ``data: [DONE]``), or one ``chat.completion`` JSON when ``stream`` is
false. Behaviours: normal reply (optional per-chunk delay, reasoning deltas), HTTP error with
optional Retry-After, a stall before the headers, a stall mid-stream, a stream cut off (socket
closed mid-body, or body ended cleanly without finish_reason / [DONE]), an empty reply, and raw
bytes slipped into the stream (a malformed JSON chunk, bytes that are not UTF-8).

Every request is recorded (method, path, lower-cased headers, JSON body) so tests can check
what the client sent. The server listens on loopback only, stalls end when it stops, and it
answers 503 once ``max_requests`` is reached so a runaway retry loop cannot go on forever.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    """What the server does with one request. Build with the class methods below."""

    kind: str = "reply"  # reply | error | stall | truncate
    text: str = "ok"
    reasoning: str = ""
    reasoning_field: str = "reasoning_content"  # or "reasoning" (OpenRouter / Ollama style)
    chunk_chars: int = 6  # content characters per SSE chunk
    chunk_delay_s: float = 0.0
    status: int = 500
    retry_after: str | None = None
    error_message: str = ""
    stall_s: float = 0.0  # stall: before the headers; reply: mid-stream (see stall_after)
    stall_after: int = 0  # content chunks sent before a mid-stream stall
    keepalive_s: float = 0.0  # during a mid-stream stall, an SSE comment this often (if > 0)
    cut_after: int = 2  # truncate: content chunks sent before the cut
    cut: str = "abort"  # abort: socket closed mid-body | eof: body ends without finish/[DONE]
    finish_reason: str = "stop"
    usage: bool = True  # send the usage chunk if the request asked for it
    model: str | None = None  # model name to report (default: the requested one)
    fingerprint: str | None = None  # system_fingerprint to report
    provider: str | None = None  # a provider field beyond OpenAI's (as OpenRouter sends)
    raw: bytes = b""  # sent as is (one HTTP chunk) after ``raw_after`` content chunks
    raw_after: int = 1

    @classmethod
    def reply(cls, text: str = "ok", **kw: object) -> Behaviour:
        return cls("reply", text=text, **kw)  # type: ignore[arg-type]

    @classmethod
    def empty(cls, **kw: object) -> Behaviour:
        return cls("reply", text="", **kw)  # type: ignore[arg-type]

    @classmethod
    def error(cls, status: int, retry_after: str | None = None, message: str = "") -> Behaviour:
        return cls("error", status=status, retry_after=retry_after, error_message=message)

    @classmethod
    def stall(cls, seconds: float, text: str = "late") -> Behaviour:
        """Say nothing for ``seconds`` (no headers), then reply if the client is still there."""
        return cls("stall", text=text, stall_s=seconds)

    @classmethod
    def stall_mid_stream(
        cls, text: str, after: int, seconds: float, keepalive_s: float = 0.0
    ) -> Behaviour:
        """Stop sending after ``after`` content chunks for ``seconds``; with ``keepalive_s``,
        send only SSE comments meanwhile (as OpenRouter does while a model is busy)."""
        return cls("reply", text=text, stall_after=after, stall_s=seconds, keepalive_s=keepalive_s)

    @classmethod
    def truncate(cls, text: str, after: int = 2, cut: str = "abort") -> Behaviour:
        return cls("truncate", text=text, cut_after=after, cut=cut)

    @classmethod
    def inject(cls, text: str, raw: bytes, after: int = 1) -> Behaviour:
        """A normal streamed reply with ``raw`` bytes slipped in after ``after`` content chunks
        (e.g. ``MALFORMED_CHUNK``, ``NOT_UTF8_CHUNK``); the reply then goes on to its end."""
        return cls("reply", text=text, raw=raw, raw_after=after)


MALFORMED_CHUNK = b'data: {"choices": [{"index": 0, "delta": {"content": "x"\n\n'
"""An SSE event whose JSON breaks off."""
NOT_UTF8_CHUNK = (
    b'data: {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, '
    b'"model": "m", "choices": [{"index": 0, "delta": {"content": "caf\xe9 \xff\xfe"}, '
    b'"finish_reason": null}]}\n\n'
)
"""A well-formed chunk whose content holds Latin-1 and stray bytes, not UTF-8."""


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict
    at: float = 0.0  # time.monotonic() when the request arrived


@dataclass
class FakeOpenAI:
    """The server's scripted state, shared with the handler threads."""

    url: str = ""  # base URL including /v1
    behaviours: deque[Behaviour] = field(default_factory=deque)
    default: Behaviour = field(default_factory=Behaviour.reply)
    requests: list[Recorded] = field(default_factory=list)
    api_key: str | None = None  # if set, other bearer tokens get 401 (echoing what was sent)
    max_requests: int = 200
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        with self.lock:
            self.behaviours.extend(behaviours)

    def _next(self, recorded: Recorded) -> Behaviour | None:
        with self.lock:
            self.requests.append(recorded)
            if len(self.requests) > self.max_requests:
                return None
            return self.behaviours.popleft() if self.behaviours else self.default


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own
    state: FakeOpenAI  # set on the subclass made per server

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802
        try:
            self._post()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _post(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request"}})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        b = self.state._next(Recorded("POST", self.path, headers, body, time.monotonic()))
        if b is None:
            self._json(503, {"error": {"message": "test server request budget used up"}})
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        sent = headers.get("authorization", "")
        if self.state.api_key is not None and sent != f"Bearer {self.state.api_key}":
            # Like real providers, echo what was sent: the client must not pass it on.
            message = f"Incorrect API key provided: {sent.removeprefix('Bearer ')}"
            self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})
            return
        if b.kind == "stall":
            if self.state.stopping.wait(b.stall_s):
                return
        if b.kind == "error":
            extra = {"Retry-After": b.retry_after} if b.retry_after is not None else {}
            message = b.error_message or f"scripted HTTP {b.status}"
            self._json(b.status, {"error": {"message": message, "type": "test"}}, extra)
            return
        model = b.model or body.get("model", "test-model")
        if body.get("stream"):
            self._stream(b, model, body)
        else:
            self._complete(b, model)

    # -- plain JSON ---------------------------------------------------------------------------

    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _complete(self, b: Behaviour, model: str) -> None:
        message: dict = {"role": "assistant", "content": b.text}
        if b.reasoning:
            message[b.reasoning_field] = b.reasoning
        payload = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": b.finish_reason}],
            "usage": _usage(b.text),
        }
        self._json(200, payload)

    # -- streaming ----------------------------------------------------------------------------

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._chunk(f"data: {text}\n\n".encode())

    def _stream(self, b: Behaviour, model: str, body: dict) -> None:
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> dict:
            c = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": b.fingerprint,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if b.provider:
                c["provider"] = b.provider
            if with_usage:
                c["usage"] = None
            return c

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._event(chunk({"role": "assistant", "content": ""}))
        for piece in _pieces(b.reasoning, b.chunk_chars) if b.reasoning else []:
            self._event(chunk({b.reasoning_field: piece}))
        for i, piece in enumerate(_pieces(b.text, b.chunk_chars)):
            if b.raw and i == b.raw_after:
                self._chunk(b.raw)
            if b.kind == "truncate" and i == b.cut_after:
                return self._cut(b)
            if b.stall_s and b.kind == "reply" and i == b.stall_after:
                if self._stall(b):
                    return
            self._event(chunk({"content": piece}))
            if b.chunk_delay_s:
                time.sleep(b.chunk_delay_s)
        if b.kind == "truncate":
            return self._cut(b)
        self._event(chunk({}, b.finish_reason))
        if with_usage and b.usage:
            self._event(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(b.text),
                }
            )
        self._event("[DONE]")
        self._chunk(b"")  # end of the chunked body; the connection stays open for the next

    def _stall(self, b: Behaviour) -> bool:
        """Wait ``b.stall_s`` (sending keep-alive comments if asked); True if the server stops."""
        if not b.keepalive_s:
            return self.state.stopping.wait(b.stall_s)
        until = time.monotonic() + b.stall_s
        while (left := until - time.monotonic()) > 0:
            if self.state.stopping.wait(min(b.keepalive_s, left)):
                return True
            self._chunk(b": keep-alive\n\n")
        return False

    def _cut(self, b: Behaviour) -> None:
        if b.cut == "eof":
            self._chunk(b"")  # a complete HTTP body that never said finish_reason or [DONE]
            return
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: the client sees a broken stream


def _usage(text: str) -> dict:
    completion = max(1, len(text) // 4) if text else 0
    return {"prompt_tokens": 42, "completion_tokens": completion, "total_tokens": 42 + completion}


class ServerThread:
    """Runs the fake server on an ephemeral loopback port; a context manager yielding its state."""

    def __init__(self) -> None:
        self.state = FakeOpenAI()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.state.url = f"http://{host}:{port}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
