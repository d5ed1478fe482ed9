"""A trial: prompt -> LLM code (streamed) -> sandboxed run -> feedback -> REGENERATE or FINISH."""
