"""Build a backend from a backbone's config: the one place that knows every backend kind.

Callers (CLI, sweep runner) pass a whole backbone config as keyword arguments; each builder
takes the keys it understands and ignores the rest (e.g. ``profile`` means nothing to openai).
To add a backend kind, write a builder and register it in ``_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from engine.errors import UserError
from engine.llm.base import Backend


def _synthetic(seed: int, cfg: dict[str, Any]) -> Backend:
    from engine.llm.synthetic import SyntheticBackend

    return SyntheticBackend(
        profile=str(cfg.get("profile") or "strong"),
        seed=seed,
        latency_s_per_token=float(cfg.get("latency_s_per_token") or 0.0),
    )


def _openai(seed: int, cfg: dict[str, Any]) -> Backend:
    from engine.llm.openai_backend import OpenAIBackend, OpenAIConfig

    if not cfg.get("model"):
        raise UserError("the openai backend needs a model name (e.g. model: gpt-4o-mini)")
    known = {f.name for f in fields(OpenAIConfig)}
    # None means "leave out of the request" for these two; elsewhere None/"" means default.
    nullable = {"temperature", "max_tokens"}
    kwargs = {
        k: v
        for k, v in cfg.items()
        if k in known and (k in nullable or (v is not None and v != ""))
    }
    return OpenAIBackend(OpenAIConfig(**kwargs))  # raises LLMError (a UserError) if no key


def _replay(seed: int, cfg: dict[str, Any]) -> Backend:
    from engine.llm.replay import ReplayBackend

    return ReplayBackend(
        [str(r) for r in cfg.get("replies") or []],
        model=str(cfg.get("model") or "replay"),
        delay_s=float(cfg.get("delay_s") or 0.0),
    )


_BUILDERS: dict[str, Callable[[int, dict[str, Any]], Backend]] = {
    "synthetic": _synthetic,  # offline seeded coder, engine/llm/synthetic/
    "openai": _openai,  # any OpenAI-compatible endpoint
    "replay": _replay,  # recorded replies, in order
}
BACKENDS = tuple(_BUILDERS)


def make_vision_backend(kind: str, **cfg: Any) -> Backend:
    """The vision model of ``feedback = "vdm"``: any OpenAI-compatible vision model, or the
    offline ``synthetic`` double (:mod:`engine.llm.synthetic.vision`)."""
    if kind == "synthetic":
        from engine.llm.synthetic.vision import SyntheticVision

        return SyntheticVision()
    if kind != "openai":
        raise UserError(f"unknown vision backend {kind!r} (known: openai, synthetic)")
    return make_backend("openai", **{**cfg, "vision": True})


def make_backend(kind: str, *, seed: int = 0, **cfg: Any) -> Backend:
    """A backend of ``kind`` ("synthetic", "openai", "replay"); ``seed`` is for synthetic.

    Raises UserError for an unknown kind or bad config (LLMError, e.g. a missing API key, is a
    UserError too), so the CLI reports it in one line before any trial starts.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise UserError(f"unknown backend {kind!r} (known: {', '.join(BACKENDS)})")
    try:
        return builder(seed, cfg)
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad {kind} backend config: {exc}") from None
