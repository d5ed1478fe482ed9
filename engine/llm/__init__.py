"""LLM backends behind one async streaming interface: openai, synthetic (offline), replay.

See :mod:`engine.llm.base` for the interface. The backends are imported lazily so that the
offline paths (synthetic, replay) do not pay for importing the ``openai`` client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.llm.base import Backend, LLMError, LLMReply, RetryRecord, TextDelta, complete

if TYPE_CHECKING:
    from engine.llm.factory import make_backend
    from engine.llm.openai_backend import OpenAIBackend, OpenAIConfig
    from engine.llm.replay import ReplayBackend

_LAZY = {
    "OpenAIBackend": "engine.llm.openai_backend",
    "OpenAIConfig": "engine.llm.openai_backend",
    "ReplayBackend": "engine.llm.replay",
    "make_backend": "engine.llm.factory",
}

__all__ = [
    "Backend",
    "LLMError",
    "LLMReply",
    "OpenAIBackend",
    "OpenAIConfig",
    "ReplayBackend",
    "RetryRecord",
    "TextDelta",
    "complete",
    "make_backend",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.llm' has no attribute {name!r}")
