"""Study-style reports of a session: per-arm tables, comparisons, skills, gates, plots.

An arm is condition x backbone x round; trials of different rounds ran different libraries and
are never pooled (each row names the library versions it covers). Rates count the final attempt
only; any-attempt success is its own labelled column. Each arm is compared with the reference
condition (the session's ``reference``, default ``P21_a``) of the same backbone and round.
Plots (PNG and SVG): success rate with Wilson 95% bars per arm, calls per skill, and, for a
session of several rounds, the learning curve (success per round with its Wilson band).

The report opens with the pre-registered analysis plan (``[analysis]``, frozen with the
session), the deviations recorded from it and its verdicts in words (engine.stats.analysis).
Arms run on the same seeds are compared paired by seed (exact McNemar; engine.stats.paired)
beside the unpaired tests; the paired contrasts' anytime-valid confidence sequences are
plotted over the pairs; spend is shown against the budget, and cost per success per arm.
"""

from __future__ import annotations

import csv
import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UserError
from engine.skills.ablations import marginal_effects
from engine.skills.evidence import DEDUP_MARKER
from engine.skills.evolution import version_curve
from engine.skills.saturation import defs_per_block
from engine.skills.usage import Arm, UsageReport, usage_by_arm
from engine.skills.usage import merged as merge_usage
from engine.stats.analysis import PlanReport, session_verdicts
from engine.stats.budget import Spend, session_spend
from engine.stats.compare import Comparison, compare
from engine.stats.paired import (
    Outcome,
    PairedComparison,
    outcomes_from_rows,
    pairs,
    session_pairs,
)
from engine.stats.sequential import sequential_contrast
from engine.stats.summary import ConditionSummary, live_summary
from engine.store.reader import SessionReader
from engine.text import plural

DEFAULT_REFERENCE = "P21_a"


@dataclass
class ReportData:
    session: dict
    reference: str | None
    rows: list[ConditionSummary]
    overall: list[ConditionSummary]
    comparisons: dict[Arm, Comparison] = field(default_factory=dict)
    usage: dict[Arm, UsageReport] = field(default_factory=dict)
    gate_failures: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    promoted: int = 0
    note: str = ""
    plan: PlanReport = field(default_factory=lambda: PlanReport(None, (), ()))
    paired: list[PairedComparison] = field(default_factory=list)
    spend: list[Spend] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    effects: list = field(default_factory=list)
    """Marginal effect of each ablation arm (engine.skills.ablations.MarginalEffect)."""
    versions: list = field(default_factory=list)
    """Success per library version (engine.skills.evolution.VersionPoint)."""
    dedup_notes: list = field(default_factory=list)
    """(condition, version, what behavioural dedup merged and why) per library version."""
    saturation: dict = field(default_factory=dict)
    """Round -> (condition, backbone) -> top-level defs per executed block (library arms)."""

    @property
    def rounds(self) -> list[int]:
        return sorted({r.round for r in self.rows})


def session_reference(config: dict) -> str:
    """The reference condition a session names (``[session] reference``), else P21_a."""
    return str((config.get("session") or {}).get("reference") or DEFAULT_REFERENCE)


def collect(reader: SessionReader, reference: str | None = None) -> ReportData:
    """Everything a report shows. ``reference`` None: the session's own reference condition."""
    session = reader.session()
    config = session["config"]
    rows = live_summary(reader, by_backbone=True)
    overall = live_summary(reader, by_backbone=False)
    conditions = {r.condition for r in rows}
    note = ""
    explicit = reference is not None
    reference = reference or session_reference(config)
    if reference not in conditions:
        if explicit:
            have = ", ".join(sorted(conditions)) or "none"
            raise UserError(
                f"reference condition {reference!r} has no completed trials (have: {have})"
            )
        note = f"no {reference} condition in this session: no comparisons (pass --reference)"
        reference = None
    data = ReportData(session, reference, rows, overall, note=note)
    if reference:
        for group in (rows, overall):
            refs = {(r.backbone, r.round): r for r in group if r.condition == reference}
            for r in group:
                ref = refs.get((r.backbone, r.round))
                if ref is not None and r.condition != reference:
                    data.comparisons[r.arm] = compare(r.k, r.n, ref.k, ref.n)
    data.plan = session_verdicts(reader)
    data.outcomes = outcomes_from_rows(reader.trials(status="done"))
    if reference:
        data.paired = session_pairs(data.outcomes, reference)
    data.spend = session_spend(reader)
    data.usage = usage_by_arm(reader)
    data.effects = marginal_effects(reader)
    data.versions = version_curve(reader)
    marker = DEDUP_MARKER
    data.dedup_notes = [
        (v["condition"], v["version"], v["note"].split(marker, 1)[1])
        for v in reader.library_version_rows()
        if marker in (v["note"] or "")
    ]
    libraries = {c["name"]: c["library"] for c in config.get("conditions") or []}
    libraries.update({r.condition: libraries.get(r.condition, "") for r in rows})
    for name in list(libraries):  # ablation arms vary their condition's (mined) library
        if not libraries[name]:
            base = next((b for b in libraries if libraries[b] and name.startswith(b + "-")), "")
            libraries[name] = libraries.get(base, "none") or "none"
    if len(data.rounds) > 1:
        data.saturation = {k: defs_per_block(reader, k, libraries) for k in data.rounds}
    data.gate_failures = reader.gate_failure_counts()
    data.candidates, data.promoted = reader.skill_counts()
    return data


HEADERS = [
    "condition",
    "backbone",
    "round",
    "library_versions",
    "n",
    "successes",
    "rate",
    "wilson95_low",
    "wilson95_high",
    "any_attempt_successes",
    "diff_pp_vs_ref",
    "binomial_p_one_sided",
    "fisher_p_two_sided",
    "newcombe_low_pp",
    "newcombe_high_pp",
    "ci_overlap",
    "mean_reward",
    "mean_blocks",
    "mean_regenerations",
    "tokens",
    "cost_usd",
    "cost_per_success_usd",
]


def cost_per_success(r: ConditionSummary) -> float | None:
    """What one success of the arm cost (None: no success yet)."""
    return r.cost_usd / r.k if r.k else None


def table_rows(data: ReportData) -> list[list]:
    out = []
    for r in data.overall + data.rows:
        c = data.comparisons.get(r.arm)
        out.append(
            [
                r.condition,
                r.backbone,
                r.round,
                " ".join(r.versions),
                r.n,
                r.k,
                round(r.rate, 4),
                round(r.low, 4),
                round(r.high, 4),
                r.k_any,
                None if c is None else round(c.diff_pp, 2),
                None if c is None else round(c.binomial_p_one_sided, 5),
                None if c is None else round(c.fisher_p_two_sided, 5),
                None if c is None else round(100 * c.newcombe_low, 2),
                None if c is None else round(100 * c.newcombe_high, 2),
                None if c is None else c.ci_overlap,
                round(r.mean_reward, 4),
                round(r.mean_blocks, 2),
                round(r.mean_regenerations, 2),
                r.tokens,
                round(r.cost_usd, 4),
                None if r.k == 0 else round(r.cost_usd / r.k, 4),
            ]
        )
    return out


def _plan_md(data: ReportData) -> list[str]:
    """The report's opening: the frozen plan, its deviations, its verdicts in words."""
    lines = ["", "## Pre-registered analysis plan", ""]
    plan = data.plan.plan
    if plan is None:
        return lines + [
            "No analysis plan was pre-registered (`[analysis]` in the sweep config): every "
            "comparison below is exploratory, and no equivalence can be claimed."
        ]
    lines += [f"- {line}" for line in plan.lines()]
    lines.append("- frozen when the session started")
    for d in data.plan.deviations:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(d["at"]))
        changed = sorted(
            k for k in set(d["frozen"]) | set(d["now"]) if d["frozen"].get(k) != d["now"].get(k)
        )
        lines.append(
            f"- **DEVIATION** ({when}): a resume with --force changed "
            + ", ".join(f"{k} {d['frozen'].get(k)!r} -> {d['now'].get(k)!r}" for k in changed)
            + "; the verdicts below follow the frozen plan"
        )
    lines += ["", "**Verdicts:**", ""]
    if not data.plan.verdicts:
        lines.append("No contrast has paired trials yet.")
    for v in data.plan.verdicts:
        lines.append(
            f"- {v.words} ({v.n_pairs} pairs, A won {v.b}, the reference {v.c}; {v.method})"
        )
    return lines


def _paired_md(data: ReportData) -> list[str]:
    if not data.paired:
        return []
    lines = [
        "",
        "## Paired comparisons (by seed)",
        "",
        "Trial *i* of every arm ran on scene seed `seed + i`: each seed both arms completed is a"
        " pair. Only discordant pairs carry information: *A only* = A succeeded and the"
        " reference failed (b), *ref only* the reverse (c). Exact McNemar test on them;"
        " Agresti-Min 95% interval of the paired difference; pooled over backbones (`all`),"
        " pairs of one seed are correlated and the interval is seed-clustered. The unpaired"
        " tests (binomial, Fisher, Newcombe) are in the table above.",
        "",
        "| condition | reference | backbone | round | pairs | both | A only (b) | ref only (c) | neither | diff (pp) | 95% interval (pp) | McNemar p (2-sided) | p (A better) | seed clusters |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for pc in data.paired:
        t = pc.test
        p_two, p_one = f"{t.p_exact_two_sided:.3g}", f"{t.p_exact_one_sided:.3g}"
        if pc.clustered_low is not None and pc.clustered_high is not None:
            interval = f"[{100 * pc.clustered_low:+.1f}, {100 * pc.clustered_high:+.1f}] clustered"
            p_two = p_one = "- (pairs not independent)"
        else:
            interval = f"[{100 * (t.diff_low or 0):+.1f}, {100 * (t.diff_high or 0):+.1f}]"
        lines.append(
            f"| {pc.condition} | {pc.reference} | {pc.backbone} | {pc.round} | {pc.n_pairs} | "
            f"{pc.both} | {t.b} | {t.c} | {pc.neither} | {100 * (t.diff or 0):+.1f} | "
            f"{interval} | {p_two} | {p_one} | {pc.clusters} |"
        )
    return lines


def _spend_md(data: ReportData) -> list[str]:
    lines = [
        "",
        "## Spend against budget",
        "",
        "Every coder call the session recorded (also of abandoned and failed runs), at the"
        " backbones' prices; the vision model's calls are in the arms' cost, not here.",
        "",
        "| scope | calls | tokens | cost $ | budget $ | token budget | state |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in data.spend:
        lines.append(
            f"| {r.scope} | {r.calls} | {r.tokens:,} | {r.cost_usd:.4f} | "
            f"{r.max_cost_usd or '-'} | {f'{r.max_tokens:,}' if r.max_tokens else '-'} | "
            f"{r.reason or 'within budget'} |"
        )
    return lines


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render_md(data: ReportData, images: dict[str, str]) -> str:
    s = data.session
    lines = [f"# Session {s['id']}", ""]
    lines.append(
        f"Task `{s['task']}` · status {s['status']} · code {s['code_version']} · generated {time.strftime('%Y-%m-%d %H:%M')}"
    )
    if s["synthetic"] or any(r.synthetic for r in data.rows):
        lines += [
            "",
            "> **Synthetic coder**: these trials were written by the offline synthetic coder, a test double for the loop, not an LLM. The numbers say nothing about LLMs.",
        ]
    if s.get("privileged"):
        lines += [
            "",
            "> **PRIVILEGED**: the LLM was shown the simulator's ground truth ("
            + "; ".join(s["privileged"])
            + "), which CaP-X never shows. These rates are not comparable with CaP-X's or with "
            "sessions run without it.",
        ]
    lines += _plan_md(data)
    lines += ["", "## Success on the final attempt", ""]
    ref = data.reference
    lines.append(
        f"Reference condition: `{ref}`." if ref else data.note or "No reference condition."
    )
    multi_round = len(data.rounds) > 1
    lines += [
        "",
        "Each row is one arm: a condition on one backbone (`all`: every backbone) in one round;"
        " rounds ran different libraries and are never pooled.",
        "",
        "| condition | backbone | round | library versions | n | successes | rate | Wilson 95% | any-attempt successes (not the rate) | vs ref (pp) | Newcombe 95% (pp) | binomial p (A>ref) | Fisher p (2-sided) | CIs overlap | mean reward | blocks | regenerations | tokens | cost $ | cost per success $ |",
        "|---|---|---:|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data.overall + data.rows:
        c = data.comparisons.get(r.arm)
        cmp_cells = (
            ["", "", "", "", ""]
            if c is None
            else [
                f"{c.diff_pp:+.1f}",
                f"[{100 * c.newcombe_low:+.1f}, {100 * c.newcombe_high:+.1f}]",
                f"{c.binomial_p_one_sided:.3g}",
                f"{c.fisher_p_two_sided:.3g}",
                "yes" if c.ci_overlap else "no",
            ]
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    f"**{r.condition}**" if r.backbone == "all" else r.condition,
                    r.backbone,
                    str(r.round),
                    r.version_range,
                    str(r.n),
                    str(r.k),
                    _pct(r.rate),
                    f"[{_pct(r.low)}, {_pct(r.high)}]",
                    str(r.k_any),
                    *cmp_cells,
                    f"{r.mean_reward:.3f}",
                    f"{r.mean_blocks:.2f}",
                    f"{r.mean_regenerations:.2f}",
                    f"{r.tokens:,}",
                    f"{r.cost_usd:.4f}",
                    "-" if r.k == 0 else f"{r.cost_usd / r.k:.4f}",
                ]
            )
            + " |"
        )
    if "success" in images:
        lines += ["", f"![success rates with Wilson 95% intervals]({images['success']})"]
    lines += _paired_md(data)
    if "sequences" in images:
        lines += [
            "",
            "Anytime-valid 95% confidence sequences of each paired difference, after every pair"
            " (valid however often they are looked at):",
            "",
            f"![confidence sequences of the paired differences]({images['sequences']})",
        ]
    lines += _spend_md(data)
    if multi_round:
        lines += ["", "## Learning curve", "", "Success per round (all backbones), Wilson 95%:", ""]
        lines += ["| condition | " + " | ".join(f"round {k}" for k in data.rounds) + " |"]
        lines += ["|---|" + "---|" * len(data.rounds)]
        by_arm = {(r.condition, r.round): r for r in data.overall}
        for condition in sorted({r.condition for r in data.overall}):
            cells = []
            for k in data.rounds:
                r = by_arm.get((condition, k))
                cells.append(
                    "-"
                    if r is None
                    else f"{r.k}/{r.n} {_pct(r.rate)} [{_pct(r.low)}, {_pct(r.high)}]"
                )
            lines.append(f"| {condition} | " + " | ".join(cells) + " |")
        if "learning" in images:
            lines += ["", f"![success per round]({images['learning']})"]
        arms = sorted({arm for per in data.saturation.values() for arm in per})
        if arms:
            lines += [
                "",
                "Saturation: top-level `def`s per executed block of each library arm, per round"
                " (the study's measure: a dense library makes the LLM stop writing functions):",
                "",
                "| arm | " + " | ".join(f"round {k}" for k in data.rounds) + " |",
                "|---|" + "---:|" * len(data.rounds),
            ]
            for arm in arms:
                cells = [
                    "-"
                    if arm not in data.saturation.get(k, {})
                    else f"{data.saturation[k][arm]:.2f}"
                    for k in data.rounds
                ]
                lines.append(f"| {arm[0]} · {arm[1]} | " + " | ".join(cells) + " |")
    lines += _effects_md(data) + _versions_md(data, images)
    if data.dedup_notes:
        lines += ["", "## Behavioural dedup", ""]
        lines += [
            f"- **{condition}** `{version}`: {note}"
            for condition, version, note in data.dedup_notes
        ]
    lines += ["", "## Skills", ""]
    lines.append(f"{data.candidates} candidates mined, {data.promoted} promoted.")
    if data.gate_failures:
        lines += [
            "",
            "Candidates rejected by each gate (a candidate can fail several):",
            "",
            "| gate | rejected |",
            "|---|---:|",
        ]
        lines += [f"| {g} | {n} |" for g, n in data.gate_failures.items()]
    used = {arm: u for arm, u in data.usage.items() if u.skills}
    if used:
        lines += [
            "",
            "### Skill usage",
            "",
            "Calls counted at run time in the sandbox (a trial's own function of the same name is"
            " not a call of the skill). Rewritten on retry: the skill raised, and the next block"
            " did its step without it, with the API functions it uses.",
        ]
    for (condition, backbone, round_), u in sorted(used.items()):
        lines += [
            "",
            f"**{condition}** · {backbone} · round {round_}: {plural(u.total_calls, 'call')} in "
            f"{plural(u.trials, 'trial')}; top skill {_pct(u.top_share(1))} of calls, top 3 "
            f"{_pct(u.top_share(3))}, top 4 {_pct(u.top_share(4))}; dead skills (in the library, "
            f"never called): {', '.join(u.dead) or 'none'}.",
            "",
            "| skill | calls | share | raised | trials | success when called | rewritten on retry |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in u.rows()[:20]:
            rate = "-" if r["success_when_called"] is None else _pct(r["success_when_called"])
            lines.append(
                f"| {r['skill']} | {r['calls']} | {_pct(r['share'])} | {r['raised']} | "
                f"{r['trials']} | {rate} | {r['rewritten_on_retry']} |"
            )
    if used and "usage" in images:
        lines += ["", f"![calls per skill]({images['usage']})"]
    return "\n".join(lines) + "\n"


def _effects_md(data: ReportData) -> list[str]:
    """Each ablation arm against its condition on the same seeds (paired, Newcombe 95%)."""
    if not data.effects:
        return []
    lines = [
        "",
        "## Marginal effect per skill (ablation arms)",
        "",
        "The condition minus its ablation arm, paired by scene seed (same backbone and round):"
        " for leave-one-out, what the skill left out adds. Newcombe's paired 95% interval,"
        " exact McNemar p.",
        "",
        "| condition | arm | skill | backbone | round | pairs | condition rate | arm rate |"
        " effect pp | 95% interval pp | McNemar p |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for e in data.effects:
        d = e.effect
        lines.append(
            f"| {e.condition} | {e.arm} | {e.skill} | {e.backbone} | {e.round} | {d.n_pairs} | "
            f"{_pct(d.rate_with)} | {_pct(d.rate_without)} | {d.diff * 100:+.1f} | "
            f"[{d.low * 100:+.1f}, {d.high * 100:+.1f}] | {d.mcnemar_p:.3g} |"
        )
    return lines


def _versions_md(data: ReportData, images: dict[str, str]) -> list[str]:
    """The learning curve per library version, with size and churn (mined conditions)."""
    mined = {v.condition for v in data.versions if v.version != "none"}
    points = [v for v in data.versions if v.condition in mined]
    if len({(v.condition, v.version) for v in points}) <= len({v.condition for v in points}):
        return []  # every condition kept one version: nothing evolved
    lines = [
        "",
        "## Learning curve per library version",
        "",
        "Each library version a condition's trials ran with, in plan order: success with its"
        " Wilson 95% interval, the version's size and its churn against the previous one.",
        "",
        "| condition | version | round | first trial | successes | rate | Wilson 95% | skills |"
        " added | removed |",
        "|---|---|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for v in points:
        r = v.success
        lines.append(
            f"| {v.condition} | {v.version} | {v.round} | {v.first_trial} | {r.k}/{r.n} | "
            f"{_pct(r.rate)} | [{_pct(r.low)}, {_pct(r.high)}] | {v.size} | "
            f"{', '.join(v.added) or '-'} | {', '.join(v.removed) or '-'} |"
        )
    if "versions" in images:
        lines += ["", f"![success per library version]({images['versions']})"]
    return lines


def render_html(data: ReportData, images: dict[str, str]) -> str:
    md = render_md(data, images)
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()).replace("**", "") for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            body.append(f'<img alt="{html.escape(alt)}" src="{html.escape(src[:-1])}">')
        elif line.startswith("> "):
            body.append(f"<blockquote>{html.escape(line[2:]).replace('**', '')}</blockquote>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = "body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;font-size:13px}blockquote{background:#fff3cd;padding:8px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>autocapx report</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"


def render_csv(data: ReportData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(table_rows(data))
    return buffer.getvalue()


def plots(data: ReportData, out: Path) -> dict[str, str]:
    """success.png/.svg (rates with Wilson bars), usage.png/.svg (calls per skill) and, with
    several rounds, learning.png/.svg (success per round with its Wilson band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, str] = {}
    rows = data.rows if len({r.backbone for r in data.rows}) > 1 else data.overall
    if rows:
        several = len({r.round for r in rows}) > 1
        labels = [
            (r.condition if r.backbone == "all" else f"{r.condition}\n{r.backbone}")
            + (f"\nround {r.round}" if several else "")
            for r in rows
        ]
        rates = [100 * r.rate for r in rows]
        lower = [max(0.0, 100 * (r.rate - r.low)) for r in rows]
        upper = [max(0.0, 100 * (r.high - r.rate)) for r in rows]
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows)), 4))
        colours = ["#888888" if r.condition == data.reference else "#3b75af" for r in rows]
        ax.bar(
            range(len(rows)),
            rates,
            color=colours,
            yerr=[lower, upper],
            capsize=6,
            edgecolor="black",
        )
        for i, r in enumerate(rows):
            ax.text(i, min(100, 100 * r.high) + 2, f"{r.k}/{r.n}", ha="center", fontsize=9)
        ax.set_xticks(range(len(rows)), labels, fontsize=9)
        ax.set_ylim(0, 110)
        ax.set_ylabel("success on final attempt (%)")
        title = "Success rate with Wilson 95% intervals"
        if any(r.synthetic for r in rows):
            title += " (SYNTHETIC coder)"
        ax.set_title(title, fontsize=11)
        if data.reference:
            ax.text(
                0.99,
                0.97,
                f"grey = reference ({data.reference})",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
            )
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(out / f"success.{ext}", dpi=120)
        plt.close(fig)
        files["success"] = "success.png"
    merged = merge_usage(data.usage.values())
    if merged.total_calls:
        used = [r for r in merged.rows() if r["calls"] or r["dead"]][:25]
        fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(used) + 2), 4))
        ax.bar(
            range(len(used)),
            [r["calls"] for r in used],
            color=["#c44e52" if r["dead"] else "#55a868" for r in used],
            edgecolor="black",
        )
        top = max(1, max(r["calls"] for r in used))
        for i, r in enumerate(used):
            if r["dead"]:
                ax.text(
                    i,
                    0.02 * top,
                    "dead",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="#c44e52",
                )
        ax.set_xticks(
            range(len(used)), [r["skill"] for r in used], rotation=60, ha="right", fontsize=8
        )
        ax.set_ylabel("calls (counted at run time)")
        ax.set_title(
            f"Skill usage, all arms: top 3 take {100 * merged.top_share(3):.0f}% of calls "
            "(red = dead)",
            fontsize=11,
        )
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(out / f"usage.{ext}", dpi=120)
        plt.close(fig)
        files["usage"] = "usage.png"
    if any(pc.backbone != "all" for pc in data.paired):
        _sequences_plot(data, out, plt)
        files["sequences"] = "sequences.png"
    if len(data.rounds) > 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        for condition in sorted({r.condition for r in data.overall}):
            arm = sorted(
                (r for r in data.overall if r.condition == condition), key=lambda r: r.round
            )
            xs = [r.round for r in arm]
            ax.plot(xs, [100 * r.rate for r in arm], marker="o", label=condition)
            ax.fill_between(xs, [100 * r.low for r in arm], [100 * r.high for r in arm], alpha=0.2)
        ax.set_xticks(data.rounds)
        ax.set_xlabel("round")
        ax.set_ylabel("success on final attempt (%)")
        ax.set_ylim(0, 105)
        ax.set_title("Learning curve: success per round, Wilson 95% band", fontsize=11)
        ax.legend(fontsize=8)
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(out / f"learning.{ext}", dpi=120)
        plt.close(fig)
        files["learning"] = "learning.png"
    mined = {v.condition for v in data.versions if v.version != "none"}
    points = [v for v in data.versions if v.condition in mined]
    if len(points) > len(mined):  # some condition ran with more than one version
        fig, ax = plt.subplots(figsize=(8, 4))
        for condition in sorted(mined):
            mine = [v for v in points if v.condition == condition]
            xs = list(range(len(mine)))
            ys = [100 * v.success.rate for v in mine]
            lo = [100 * v.success.low for v in mine]
            hi = [100 * v.success.high for v in mine]
            ax.plot(xs, ys, marker="o", label=condition)
            ax.fill_between(xs, lo, hi, alpha=0.15)
            for x, v in zip(xs, mine, strict=True):
                ax.annotate(
                    f"{v.size}",
                    (x, 100 * v.success.rate),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_xticks(range(max(sum(v.condition == c for v in points) for c in mined)))
        ax.set_xlabel("library version of the condition, in plan order (label: its size)")
        ax.set_ylabel("success %")
        ax.set_ylim(0, 105)
        ax.set_title("Learning curve per library version, Wilson 95% band", fontsize=11)
        ax.legend(fontsize=8)
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(out / f"versions.{ext}", dpi=120)
        plt.close(fig)
        files["versions"] = "versions.png"
    return files


def _sequences_plot(data: ReportData, out: Path, plt) -> None:  # noqa: ANN001 - pyplot
    """sequences.png/.svg: each paired difference's confidence sequence after every pair."""
    plan = data.plan.plan
    alpha = plan.alpha if plan else 0.05
    margin = plan.margin if plan else 0.0
    fig, ax = plt.subplots(figsize=(7, 4))
    for pc in data.paired:
        if pc.backbone == "all":
            continue
        found = pairs(data.outcomes, pc.condition, pc.reference, pc.backbone, pc.round)
        xs, lows, highs, diffs = [], [], [], []
        b = c = 0
        for i, (_, _, a, r) in enumerate(found, 1):
            b += a and not r
            c += r and not a
            s = sequential_contrast(b, c, i, alpha)
            xs.append(i)  # intersected over time: still a confidence sequence, never wider
            lows.append(max([100 * s.diff_low, *lows[-1:]]))
            highs.append(min([100 * s.diff_high, *highs[-1:]]))
            diffs.append(100 * s.diff)
        label = f"{pc.condition} - {pc.reference} · {pc.backbone}"
        label += f" · round {pc.round}" if pc.round else ""
        (line,) = ax.plot(xs, diffs, label=label)
        ax.fill_between(xs, lows, highs, alpha=0.2, color=line.get_color())
    ax.axhline(0, color="black", linewidth=0.8)
    for m in (margin, -margin) if margin else ():
        ax.axhline(100 * m, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("pairs (seeds both arms completed)")
    ax.set_ylabel("paired difference (points)")
    ax.set_ylim(-105, 105)
    ax.set_title(f"Confidence sequences ({1 - alpha:.0%}, anytime-valid)", fontsize=11)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(out / f"sequences.{ext}", dpi=120)
    plt.close(fig)


def write_report(db: Path, out: Path, reference: str | None = None, fmt: str = "md") -> Path:
    """Write the report (and its plots) into ``out``; returns the report file.

    The database is checked first (SQLite's ``quick_check``): a report relies on every row,
    so a damaged database is refused in one line rather than reported on in part. A report
    that cannot be written (no space, read-only) is one line too."""
    reader = SessionReader(db, check=True)
    try:
        data = collect(reader, reference)
    finally:
        reader.close()
    try:
        out.mkdir(parents=True, exist_ok=True)
        images = plots(data, out)
        if fmt == "csv":
            text, name = render_csv(data), "report.csv"
        elif fmt == "html":
            text, name = render_html(data, images), "report.html"
        else:
            text, name = render_md(data, images), "report.md"
        (out / name).write_text(text)
        (out / "summary.json").write_text(
            json.dumps({"headers": HEADERS, "rows": table_rows(data)}, default=str)
        )
    except OSError as exc:
        where = exc.filename or out
        raise UserError(f"cannot write the report to {where}: {exc.strerror or exc}") from None
    return out / name
