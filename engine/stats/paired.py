"""Paired comparisons by scene seed: trial i of every arm runs on scene seed ``seed + i``.

When two conditions ran on the same seeds (same backbone, same round), each seed is a *pair*
and only the discordant pairs carry information about the difference: ``b`` pairs where A
succeeded and the reference failed, ``c`` the reverse. Pairing removes the scene-to-scene
variation (an easy cube pose is easy for both arms), so it is more powerful than the unpaired
tests whenever outcomes are correlated across arms, and never misleads when they are not.

* **Exact McNemar test** (statsmodels ``mcnemar(exact=True)``): under H0 (equal rates) each
  discordant pair goes A's way with probability 1/2, so b ~ Binomial(b + c, 1/2). Two-sided p
  and one-sided p (H1: A better, b > c). b = 10, c = 2 gives 158/4096 = 0.0386 two-sided.
* **Interval of the paired difference** p_A - p_ref = (b - c) / n: Agresti & Min (2005),
  "Simple improved confidence intervals for comparing matched proportions" (Stat Med 24:729):
  the Wald interval after adding 1/2 to each of the four cells; good coverage at small n and
  at 0 or n discordant pairs, where plain Wald collapses.
* **Conditional interval** of b / (b + c), the share of discordant pairs A wins: exact
  Clopper-Pearson (scipy ``binomtest(...).proportion_ci``).
* **Seed-clustered standard error**: when several backbones share a seed (the pooled ``all``
  comparison), the per-pair differences of one seed are correlated; the mean difference gets a
  cluster-robust (CR1) standard error by seed (statsmodels OLS, ``cov_type="cluster"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.stats as st

from engine.errors import UserError
from engine.stats import validate


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test on discordant pairs, and (with ``n_pairs``) the paired difference.

    ``diff*`` are fractions (p_A - p_ref); they are None when the number of pairs is unknown."""

    b: int  # A succeeded, the reference failed
    c: int  # the reference succeeded, A failed
    n_discordant: int
    p_exact_two_sided: float
    p_exact_one_sided: float  # H1: A better (b > c)
    p_exact_one_sided_less: float  # H1: A worse (b < c)
    share_low: float  # Clopper-Pearson bounds of b / (b + c) (0 and 1 when nothing is discordant)
    share_high: float
    n_pairs: int | None = None
    diff: float | None = None
    diff_low: float | None = None  # Agresti-Min bounds of p_A - p_ref
    diff_high: float | None = None
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar_exact(
    b: int, c: int, n_pairs: int | None = None, confidence: float = 0.95
) -> PairedTest:
    """Exact McNemar test for ``b`` and ``c`` discordant pairs (see the module docstring)."""
    from statsmodels.stats.contingency_tables import mcnemar

    b, c = _count(b, "B"), _count(c, "C")
    confidence = validate.probability(confidence, "confidence", open_interval=True)
    n = b + c
    if n_pairs is not None:
        _, n_pairs = validate.counts(0, n_pairs, "the pairs")
        if n > n_pairs:
            raise UserError(f"B + C ({n}) cannot exceed the number of pairs ({n_pairs})")
    if n == 0:
        two, greater, less, low, high = 1.0, 1.0, 1.0, 0.0, 1.0
    else:
        two = min(1.0, float(mcnemar([[0, b], [c, 0]], exact=True).pvalue))
        greater = float(st.binomtest(b, n, 0.5, alternative="greater").pvalue)
        less = float(st.binomtest(b, n, 0.5, alternative="less").pvalue)
        ci = st.binomtest(b, n).proportion_ci(confidence_level=confidence, method="exact")
        low, high = float(ci.low), float(ci.high)
    diff = diff_low = diff_high = None
    if n_pairs is not None:
        diff = (b - c) / n_pairs
        diff_low, diff_high = agresti_min(b, c, n_pairs, confidence)
    return PairedTest(
        b=b,
        c=c,
        n_discordant=n,
        p_exact_two_sided=two,
        p_exact_one_sided=greater,
        p_exact_one_sided_less=less,
        share_low=low,
        share_high=high,
        n_pairs=n_pairs,
        diff=diff,
        diff_low=diff_low,
        diff_high=diff_high,
        confidence=confidence,
    )


def _count(x: object, name: str) -> int:
    """A count of pairs: a whole number, not negative (7.0 is whole; 7.5, inf, nan are not)."""
    whole = isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
    if not whole or not float(x).is_integer():  # type: ignore[arg-type]
        raise UserError(f"{name} must be a whole number, got {x!r}")
    if x < 0:  # type: ignore[operator]
        raise UserError(f"{name} must not be negative, got {x!r}")
    return int(x)  # type: ignore[call-overload]


def agresti_min(b: int, c: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Agresti-Min interval of the paired difference (b - c) / n, clipped to [-1, 1]."""
    z = float(st.norm.ppf(0.5 + confidence / 2))
    b2, c2, n2 = b + 0.5, c + 0.5, n + 2.0
    d = (b2 - c2) / n2
    se = math.sqrt(max((b2 + c2) - (b2 - c2) ** 2 / n2, 0.0)) / n2
    return max(-1.0, d - z * se), min(1.0, d + z * se)


# ------------------------------------------------------------------ pairs from a session


@dataclass(frozen=True)
class Outcome:
    """One completed trial, as pairing needs it."""

    condition: str
    backbone: str
    round: int
    seed: int
    success: bool


@dataclass(frozen=True)
class PairedComparison:
    """Condition A against the reference on the seeds both ran (one backbone, or ``all``)."""

    condition: str
    reference: str
    backbone: str  # a backbone's name, or "all" (pairs of every backbone, clustered by seed)
    round: int
    n_pairs: int
    both: int  # pairs where both succeeded
    neither: int
    test: PairedTest
    clusters: int  # distinct seeds among the pairs
    clustered_se: float | None  # seed-clustered SE of the mean difference (None: one pair per seed)
    clustered_low: float | None
    clustered_high: float | None

    @property
    def arm(self) -> tuple[str, str, int]:
        return (self.condition, self.backbone, self.round)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["test"] = self.test.to_dict()
        return out


def outcomes_from_rows(rows: Iterable[dict]) -> list[Outcome]:
    """Outcomes of completed trial rows (``SessionReader.trials(status="done")``, or export)."""
    return [
        Outcome(
            str(r["condition"]),
            str(r["backbone"]),
            int(r.get("round") or 0),
            int(r["seed"]),
            bool(r["final_success"]),
        )
        for r in rows
        if r.get("status", "done") == "done"
    ]


def pairs(
    outcomes: Sequence[Outcome], condition: str, reference: str, backbone: str, round_: int
) -> list[tuple[int, str, bool, bool]]:
    """(seed, backbone, A succeeded, reference succeeded) for every seed both arms completed;
    ``backbone="all"`` pairs within each backbone and pools them."""
    cells: dict[tuple[str, str, int], bool] = {}
    for o in outcomes:
        if o.round == round_ and (backbone == "all" or o.backbone == backbone):
            cells[(o.condition, o.backbone, o.seed)] = o.success
    out = []
    for (cond, bb, seed), a in sorted(cells.items(), key=lambda kv: (kv[0][2], kv[0][1])):
        if cond != condition:
            continue
        ref = cells.get((reference, bb, seed))
        if ref is not None:
            out.append((seed, bb, a, ref))
    return out


def paired_comparison(
    outcomes: Sequence[Outcome],
    condition: str,
    reference: str,
    backbone: str,
    round_: int = 0,
    confidence: float = 0.95,
) -> PairedComparison | None:
    """The paired comparison of ``condition`` with ``reference`` (None: no seed in common)."""
    found = pairs(outcomes, condition, reference, backbone, round_)
    if not found:
        return None
    b = sum(a and not r for _, _, a, r in found)
    c = sum(r and not a for _, _, a, r in found)
    both = sum(a and r for _, _, a, r in found)
    n = len(found)
    test = mcnemar_exact(b, c, n, confidence)
    seeds = [s for s, _, _, _ in found]
    se = low = high = None
    if len(set(seeds)) < n:  # several pairs share a seed: cluster by it
        se = clustered_se([int(a) - int(r) for _, _, a, r in found], seeds)
        if se is not None:
            z = float(st.norm.ppf(0.5 + confidence / 2))
            mean = (b - c) / n
            low, high = max(-1.0, mean - z * se), min(1.0, mean + z * se)
    return PairedComparison(
        condition=condition,
        reference=reference,
        backbone=backbone,
        round=round_,
        n_pairs=n,
        both=both,
        neither=n - b - c - both,
        test=test,
        clusters=len(set(seeds)),
        clustered_se=se,
        clustered_low=low,
        clustered_high=high,
    )


def clustered_se(differences: Sequence[float], clusters: Sequence[object]) -> float | None:
    """Cluster-robust (CR1) standard error of the mean of ``differences`` (statsmodels OLS on
    a constant, ``cov_type="cluster"``); None with fewer than two clusters."""
    import statsmodels.api as sm

    groups = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)[1]
    if len(set(groups.tolist())) < 2:
        return None
    y = np.asarray(differences, dtype=float)
    if not np.any(y != y[0]):
        return 0.0  # no variation at all: statsmodels would divide 0 by 0
    fit = sm.OLS(y, np.ones((len(y), 1))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(np.sqrt(fit.cov_params()[0, 0]))


def session_pairs(
    outcomes: Sequence[Outcome], reference: str, confidence: float = 0.95
) -> list[PairedComparison]:
    """Every arm against the reference of its backbone and round, and pooled over backbones
    (``all``, clustered by seed) when there are several backbones."""
    backbones = sorted({o.backbone for o in outcomes})
    arms = sorted({(o.round, o.condition) for o in outcomes if o.condition != reference})
    out = []
    for round_, condition in arms:
        for bb in backbones + (["all"] if len(backbones) > 1 else []):
            pc = paired_comparison(outcomes, condition, reference, bb, round_, confidence)
            if pc is not None:
                out.append(pc)
    return out
