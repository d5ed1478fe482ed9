"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests, with scripted misbehaviour.

Each request to ``POST /v1/chat/completions`` takes the next :class:`Behaviour` from a queue
(or the default): a normal streamed or plain reply, an HTTP error with optional Retry-After,
a stall longer than the client's timeout, a stream cut off mid-way, or an empty reply. Every
request is recorded (headers and JSON body) so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    kind: str = "reply"  # reply | error | stall | truncate | empty
    text: str = "ok"
    reasoning: str = ""
    status: int = 500
    retry_after: str | None = None
    stall_s: float = 0.0
    chunk_delay_s: float = 0.0
    usage: bool = True


@dataclass
class Recorded:
    path: str
    headers: dict
    body: dict


@dataclass
class FakeOpenAI:
    behaviours: deque = field(default_factory=deque)
    default: Behaviour = field(default_factory=Behaviour)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def push(self, *behaviours: Behaviour) -> None:
        self.behaviours.extend(behaviours)


def _chunk(
    model: str, content: str | None = None, finish: str | None = None, reasoning: str = ""
) -> bytes:
    delta: dict = {}
    if content is not None:
        delta["content"] = content
    if reasoning:
        delta["reasoning_content"] = reasoning
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _pieces(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def make_handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(
                Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if not self.path.endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": "not found"}})
                return
            b = state.behaviours.popleft() if state.behaviours else state.default
            model = body.get("model", "test-model")
            if b.kind == "stall":
                time.sleep(b.stall_s)
            if b.kind == "error":
                headers = {"Retry-After": b.retry_after} if b.retry_after else {}
                self._send_json(
                    b.status,
                    {"error": {"message": f"scripted {b.status}", "type": "test"}},
                    headers,
                )
                return
            text = "" if b.kind == "empty" else b.text
            if not body.get("stream"):
                self._send_json(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            pieces = _pieces(text)
            if b.reasoning:
                self.wfile.write(_chunk(model, reasoning=b.reasoning))
            cut = len(pieces) // 2 if b.kind == "truncate" else None
            for i, piece in enumerate(pieces):
                if cut is not None and i == cut:
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(_chunk(model, piece))
                self.wfile.flush()
                if b.chunk_delay_s:
                    time.sleep(b.chunk_delay_s)
            self.wfile.write(_chunk(model, None, "stop"))
            if b.usage:
                usage = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 42,
                        "completion_tokens": len(pieces),
                        "total_tokens": 42 + len(pieces),
                    },
                }
                self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


class ServerThread:
    """Runs the fake server on an ephemeral loopback port until stopped."""

    def __init__(self) -> None:
        self.state = FakeOpenAI()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.state.url = f"http://{host}:{port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
