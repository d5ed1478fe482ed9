"""LLM backends behind one async streaming interface: openai, synthetic (offline), replay."""

from engine.llm.base import Backend, LLMError, LLMReply, RetryRecord, TextDelta

__all__ = ["Backend", "LLMError", "LLMReply", "RetryRecord", "TextDelta"]
