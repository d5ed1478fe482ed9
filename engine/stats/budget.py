"""Spend against budget: what a session's LLM calls cost, per backbone and in all.

Spend counts every coder call the session recorded (``llm_calls``: one per block, also of runs
that were abandoned or failed, because their tokens were paid for), priced with the backbone's
``price_input_per_m`` / ``price_output_per_m``. The vision model's calls (``feedback = "vdm"``)
are in each trial's ``cost_usd`` but not in the budget. A budget of 0 is no limit.

The runner stops starting trials once a limit is reached (trials in flight finish, so spend
can pass the limit by what they cost); the reason is a ``budget_reached`` event, and
``autocapx resume`` with a raised budget in the config file continues the session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

SESSION = "session"
"""The name of the whole-session row of :func:`spend_rows`."""


@dataclass(frozen=True)
class Spend:
    """Tokens and cost of one backbone (or of the whole session), against its limits."""

    scope: str  # a backbone's name, or "session"
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    max_cost_usd: float = 0.0  # 0: no limit
    max_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def reason(self) -> str:
        """Why no more trials may start in this scope ("" while within its limits)."""
        where = "the session" if self.scope == SESSION else f"backbone {self.scope}"
        if self.max_cost_usd and self.cost_usd >= self.max_cost_usd:
            return f"budget reached: {where} spent ${self.cost_usd:.4f} of ${self.max_cost_usd:g}"
        if self.max_tokens and self.tokens >= self.max_tokens:
            return f"budget reached: {where} used {self.tokens:,} of {self.max_tokens:,} tokens"
        return ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(tokens=self.tokens, reason=self.reason)
        return out


def tokens_by_backbone(calls: Iterable[Mapping], runs: Iterable[Mapping]) -> dict[str, list[int]]:
    """Backbone -> [calls, prompt tokens, completion tokens] from ``llm_calls`` rows and the
    trial rows (any status) they belong to."""
    backbone_of = {r["run_id"]: r["backbone"] for r in runs}
    out: dict[str, list[int]] = {}
    for call in calls:
        bb = backbone_of.get(call["run_id"])
        if bb is None:
            continue
        tally = out.setdefault(bb, [0, 0, 0])
        tally[0] += 1
        tally[1] += int(call.get("prompt_tokens") or 0)
        tally[2] += int(call.get("completion_tokens") or 0)
    return out


def spend_rows(config: Mapping, tokens: Mapping[str, list[int]]) -> list[Spend]:
    """Per backbone of the config snapshot (``SweepConfig.to_dict()``), then the session."""
    rows = []
    for b in config.get("backbones") or []:
        calls, p, c = tokens.get(b["name"], [0, 0, 0])
        cost = (
            p * float(b.get("price_input_per_m") or 0) + c * float(b.get("price_output_per_m") or 0)
        ) / 1e6
        rows.append(
            Spend(
                b["name"],
                calls,
                p,
                c,
                cost,
                float(b.get("max_cost_usd") or 0),
                int(b.get("max_total_tokens") or 0),
            )
        )
    s = config.get("session") or {}
    rows.append(
        Spend(
            SESSION,
            sum(r.calls for r in rows),
            sum(r.prompt_tokens for r in rows),
            sum(r.completion_tokens for r in rows),
            sum(r.cost_usd for r in rows),
            float(s.get("max_cost_usd") or 0),
            int(s.get("max_tokens") or 0),
        )
    )
    return rows


def session_spend(reader) -> list[Spend]:  # noqa: ANN001 - a SessionReader (no import cycle)
    """Spend against budget of a session, per backbone and in all (for the console, stats
    and the report)."""
    config = reader.session()["config"]
    return spend_rows(config, tokens_by_backbone(reader.llm_calls(), reader.trials()))


def stop_reason(rows: Iterable[Spend], backbone: str) -> str:
    """Why a trial of ``backbone`` may not start: the session's limit first, then its own."""
    by_scope = {r.scope: r for r in rows}
    for scope in (SESSION, backbone):
        row = by_scope.get(scope)
        if row is not None and row.reason:
            return row.reason
    return ""
