"""``autocapx stats ci|compare|equiv|paired|session|n-needed`` and ``autocapx report``.

``--json`` prints one JSON object with stable keys (documented in the README); rates and
interval bounds are fractions, differences in percentage points are named ``*_pp``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from engine.errors import UserError
from engine.text import plural


def _count(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def register(sub: argparse._SubParsersAction) -> None:
    stats = sub.add_parser(
        "stats", help="success-rate statistics (Wilson, exact tests, TOST, sample size)"
    )
    s = stats.add_subparsers(dest="stats_command", metavar="SUBCOMMAND", required=True)

    ci = s.add_parser("ci", help="Wilson score interval for K successes of N")
    ci.add_argument("k", type=_count, metavar="K")
    ci.add_argument("n", type=_count, metavar="N")
    ci.add_argument("--confidence", type=float, default=0.95)
    ci.add_argument("--json", action="store_true")
    ci.set_defaults(handler=_ci)

    cmp_ = s.add_parser(
        "compare", help="arm A against reference arm B (exact binomial, Fisher, Newcombe)"
    )
    for name in ("k_a", "n_a", "k_b", "n_b"):
        cmp_.add_argument(name, type=_count, metavar=name.upper())
    cmp_.add_argument(
        "--alternative",
        choices=("greater", "less", "two-sided"),
        default="greater",
        help="what binomial_p and fisher_p test: A better (greater, the default), A worse "
        "(less) or either (two-sided)",
    )
    cmp_.add_argument("--json", action="store_true")
    cmp_.set_defaults(handler=_compare)

    eq = s.add_parser(
        "equiv", help="TOST equivalence of two proportions within a margin (Agresti-Caffo)"
    )
    for name in ("k_a", "n_a", "k_b", "n_b"):
        eq.add_argument(name, type=_count, metavar=name.upper())
    eq.add_argument(
        "--margin", type=float, required=True, help="equivalence margin as a fraction, e.g. 0.05"
    )
    eq.add_argument("--alpha", type=float, default=0.05)
    eq.add_argument("--json", action="store_true")
    eq.set_defaults(handler=_equiv)

    pr = s.add_parser(
        "paired",
        help="exact McNemar test on discordant pairs (arms run on the same seeds)",
    )
    pr.add_argument(
        "b", type=_count, metavar="B", help="pairs where A succeeded, the reference failed"
    )
    pr.add_argument(
        "c", type=_count, metavar="C", help="pairs where the reference succeeded, A failed"
    )
    pr.add_argument(
        "--pairs",
        type=_count,
        default=None,
        metavar="N",
        help="all pairs (concordant too): adds the interval of the paired difference",
    )
    pr.add_argument("--confidence", type=float, default=0.95)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(handler=_paired)

    ses = s.add_parser(
        "session",
        help="a session's arms (Wilson and anytime-valid intervals, cost per success), paired "
        "contrasts, the plan's verdicts and spend against budget",
    )
    ses.add_argument("session")
    ses.add_argument("--json", action="store_true")
    ses.add_argument("--sessions-dir", type=Path, default=None)
    ses.set_defaults(handler=_session)

    nn = s.add_parser(
        "n-needed", help="trials per arm to separate two rates (two-sided, Cohen's h)"
    )
    nn.add_argument("p_a", type=float, metavar="P_A")
    nn.add_argument("p_b", type=float, metavar="P_B")
    nn.add_argument("--power", type=float, default=0.8)
    nn.add_argument("--alpha", type=float, default=0.05)
    nn.add_argument("--json", action="store_true")
    nn.set_defaults(handler=_n_needed)

    rep = sub.add_parser("report", help="study-style report of a session (tables and plots)")
    rep.add_argument("session")
    rep.add_argument(
        "--reference",
        default=None,
        help="reference condition (default: the session's [session] reference, else P21_a)",
    )
    rep.add_argument("--format", choices=("md", "html", "csv"), default="md")
    rep.add_argument(
        "--output", type=Path, default=None, help="directory (default: sessions/<id>/report)"
    )
    rep.add_argument("--sessions-dir", type=Path, default=None)
    rep.set_defaults(handler=_report)


def _emit(args: argparse.Namespace, payload: dict, text: str) -> int:
    """Print one strict JSON object (no NaN/Infinity, which JSON parsers reject) or the text."""
    if args.json:
        try:
            text = json.dumps(payload, allow_nan=False)
        except ValueError:
            bad = sorted(
                k for k, v in payload.items() if isinstance(v, float) and not math.isfinite(v)
            )
            raise UserError(f"not defined for these counts: {', '.join(bad)}") from None
    print(text)
    return 0


def _ci(args: argparse.Namespace) -> int:
    from engine.stats import wilson

    r = wilson(args.k, args.n, args.confidence)
    pct = f"{args.confidence:.0%}"
    return _emit(
        args,
        r.to_dict(),
        f"{r.k}/{r.n} = {r.rate:.1%}  Wilson {pct} interval [{r.low:.1%}, {r.high:.1%}]",
    )


def _compare(args: argparse.Namespace) -> int:
    from engine.stats import compare

    c = compare(args.k_a, args.n_a, args.k_b, args.n_b, alternative=args.alternative)
    payload = c.to_dict()
    h1 = {"greater": "A > B", "less": "A < B", "two-sided": "A != B"}[c.alternative]
    text = (
        f"A {c.rate_a:.1%} vs B {c.rate_b:.1%}: {c.diff_pp:+.1f} pp; Newcombe 95% "
        f"[{100 * c.newcombe_low:+.1f}, {100 * c.newcombe_high:+.1f}] pp\n"
        f"H1 {h1}: exact binomial (against B's observed rate) p = {c.binomial_p:.4g}; Fisher "
        f"p = {c.fisher_p:.4g} (two-sided {c.fisher_p_two_sided:.4g}); "
        f"Wilson intervals {'overlap' if c.ci_overlap else 'do not overlap'}"
    )
    return _emit(args, payload, text)


def _equiv(args: argparse.Namespace) -> int:
    from engine.stats import tost

    e = tost(args.k_a, args.n_a, args.k_b, args.n_b, args.margin, args.alpha)
    text = (
        f"difference {100 * e.diff:+.1f} pp, margin ±{100 * e.margin:.1f} pp: TOST p = {e.p_value:.4g} "
        f"(lower {e.p_lower:.4g}, upper {e.p_upper:.4g}) -> {e.verdict} at alpha {e.alpha}"
    )
    return _emit(args, e.to_dict(), text)


def _paired(args: argparse.Namespace) -> int:
    from engine.stats.paired import mcnemar_exact

    t = mcnemar_exact(args.b, args.c, args.pairs, args.confidence)
    text = (
        f"{t.n_discordant} discordant pairs: A won {t.b}, the reference won {t.c}; exact McNemar "
        f"p = {t.p_exact_two_sided:.4g} two-sided, {t.p_exact_one_sided:.4g} one-sided (A better)"
    )
    if t.diff is not None:
        text += (
            f"\npaired difference {100 * t.diff:+.1f} pp of {plural(t.n_pairs or 0, 'pair')}, "
            f"Agresti-Min {t.confidence:.0%} [{100 * t.diff_low:+.1f}, {100 * t.diff_high:+.1f}] pp"  # type: ignore[operator]
        )
    payload = {k: v for k, v in t.to_dict().items() if v is not None}
    return _emit(args, payload, text)


def _session(args: argparse.Namespace) -> int:
    from engine.stats.live import design_now
    from engine.store.reader import SessionReader
    from engine.store.sessions import find_session, sessions_root

    reader = SessionReader(find_session(sessions_root(args.sessions_dir), args.session))
    try:
        d = design_now(reader)
    finally:
        reader.close()
    if args.json:
        print(json.dumps(d.to_dict()))
        return 0
    cs = f"{1 - d.alpha:.0%} CS"
    lines = [f"arms (Wilson 95% at this n; {cs}: anytime-valid):"]
    for a in d.arms:
        per = "-" if a.cost_per_success_usd is None else f"${a.cost_per_success_usd:.4f}"
        lines.append(
            f"  {a.condition} · {a.backbone} · round {a.round}: {a.k}/{a.n} = {a.rate:.1%}  "
            f"Wilson [{a.wilson_low:.1%}, {a.wilson_high:.1%}]  {cs} [{a.cs_low:.1%}, "
            f"{a.cs_high:.1%}]  cost/success {per}" + ("  SETTLED" if a.settled else "")
        )
    if d.contrasts:
        lines.append("paired by seed (against the reference):")
    for c in d.contrasts:
        p, s = c.paired, c.sequential
        lines.append(
            f"  {p.condition} - {p.reference} · {p.backbone} · round {p.round}: {p.n_pairs} pairs, "
            f"b {p.test.b} c {p.test.c}, McNemar p {p.test.p_exact_two_sided:.3g}; anytime: "
            f"{s.verdict} ({cs} of the difference [{100 * s.diff_low:+.1f}, "
            f"{100 * s.diff_high:+.1f}] pp)"
        )
    if d.plan.plan is not None:
        lines.append("pre-registered plan: " + "; ".join(d.plan.plan.lines()))
        lines += [f"  DEVIATION: {x['frozen']} -> {x['now']}" for x in d.plan.deviations]
        lines += [f"  {v.words}" for v in d.plan.verdicts]
    lines.append("spend:")
    for r in d.spend:
        limits = [f"${r.max_cost_usd:g}"] if r.max_cost_usd else []
        limits += [f"{r.max_tokens:,} tokens"] if r.max_tokens else []
        lines.append(
            f"  {r.scope}: ${r.cost_usd:.4f}, {r.tokens:,} tokens in {plural(r.calls, 'call')}"
            + (f" (budget {' and '.join(limits)})" if limits else "")
            + (f"; {r.reason}" if r.reason else "")
        )
    print("\n".join(lines))
    return 0


def _n_needed(args: argparse.Namespace) -> int:
    from engine.stats import n_needed

    r = n_needed(args.p_a, args.p_b, args.power, args.alpha)
    text = (
        f"{plural(r.n_per_arm, 'trial')} per arm to separate {r.p_a:g} from {r.p_b:g} "
        f"(power {r.power:g}, two-sided alpha {r.alpha:g}; Cohen's h, normal approximation)"
    )
    return _emit(args, r.to_dict(), text)


def _report(args: argparse.Namespace) -> int:
    from engine.stats.report import write_report
    from engine.store.sessions import find_session, sessions_root

    db = find_session(sessions_root(args.sessions_dir), args.session)
    out = args.output or db.parent / "report"
    path = write_report(db, out, reference=args.reference, fmt=args.format)
    print(path)
    return 0
