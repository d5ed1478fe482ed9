"""The offline synthetic coder backend (a test double for the trial loop, always labelled synthetic)."""

from engine.llm.synthetic.backend import SyntheticBackend

__all__ = ["SyntheticBackend"]
