"""Build a backend from a backbone's config (one place that knows every backend kind)."""

from __future__ import annotations

from engine.errors import UserError
from engine.llm.base import Backend, LLMError

BACKENDS = ("synthetic", "openai", "replay")


def make_backend(kind: str, *, seed: int = 0, **cfg: object) -> Backend:
    """``synthetic`` (offline coder), ``openai`` (any compatible endpoint) or ``replay``."""
    if kind == "synthetic":
        from engine.llm.synthetic import SyntheticBackend

        return SyntheticBackend(
            profile=str(cfg.get("profile", "strong")),
            seed=seed,
            latency_s_per_token=float(cfg.get("latency_s_per_token", 0.0)),
        )
    if kind == "openai":
        from engine.llm.openai_backend import OpenAIBackend, OpenAIConfig

        try:
            return OpenAIBackend(
                OpenAIConfig(
                    model=str(cfg["model"]),
                    base_url=str(cfg.get("base_url") or "") or None,
                    api_key_env=str(cfg.get("api_key_env", "OPENAI_API_KEY")),
                    temperature=cfg.get("temperature", 1.0),  # type: ignore[arg-type]
                    max_tokens=cfg.get("max_tokens", 4096),  # type: ignore[arg-type]
                    timeout_s=float(cfg.get("timeout_s", 120.0)),
                    max_retries=int(cfg.get("max_retries", 4)),
                    vision=bool(cfg.get("vision", False)),
                )
            )
        except LLMError as exc:
            raise UserError(str(exc)) from None
    if kind == "replay":
        from engine.llm.replay import ReplayBackend

        return ReplayBackend(list(cfg.get("replies", [])))  # type: ignore[arg-type]
    raise UserError(f"unknown backend {kind!r} (known: {', '.join(BACKENDS)})")
