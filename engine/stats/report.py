"""Study-style reports of a session: per-condition tables, comparisons, skills, gates, plots.

Rates count the final attempt only; any-attempt success is its own labelled column. Each
condition is compared with the reference condition (default ``P21_a``) of the same backbone.
Plots (PNG and SVG): success rate with Wilson 95% bars per condition, and the distribution of
skill calls.
"""

from __future__ import annotations

import csv
import html
import io
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UserError
from engine.skills.usage import UsageReport, usage
from engine.stats.compare import Comparison, compare
from engine.stats.summary import ConditionSummary, live_summary
from engine.store.db import open_db
from engine.store.reader import privileged_labels


@dataclass
class ReportData:
    session: dict
    reference: str | None
    rows: list[ConditionSummary]
    overall: list[ConditionSummary]
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)
    usage: UsageReport | None = None
    gate_failures: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    promoted: int = 0
    note: str = ""


def collect(conn: sqlite3.Connection, reference: str | None = None) -> ReportData:
    row = conn.execute(
        "SELECT id, task, status, synthetic, code_version, created_at, config_json FROM session"
    ).fetchone()
    if row is None:
        raise UserError("the session was never initialised")
    session = dict(
        zip(
            ("id", "task", "status", "synthetic", "code_version", "created_at"),
            row[:6],
            strict=True,
        )
    )
    session["privileged"] = privileged_labels(json.loads(row[6] or "{}"))
    rows = live_summary(conn, by_backbone=True)
    overall = live_summary(conn, by_backbone=False)
    conditions = {r.condition for r in rows}
    note = ""
    if reference is None:
        reference = "P21_a" if "P21_a" in conditions else None
        if reference is None and conditions:
            note = "no P21_a condition in this session: no comparisons (pass --reference)"
    elif reference not in conditions:
        raise UserError(
            f"reference condition {reference!r} has no completed trials (have: {', '.join(sorted(conditions)) or 'none'})"
        )
    data = ReportData(session, reference, rows, overall, note=note)
    if reference:
        refs = {(r.backbone): r for r in rows if r.condition == reference}
        for r in rows:
            ref = refs.get(r.backbone)
            if ref is not None and r.condition != reference:
                data.comparisons[(r.condition, r.backbone)] = compare(r.k, r.n, ref.k, ref.n)
        ref_all = next(r for r in overall if r.condition == reference)
        for r in overall:
            if r.condition != reference:
                data.comparisons[(r.condition, "all")] = compare(r.k, r.n, ref_all.k, ref_all.n)
    data.usage = usage(conn)
    for gate, count in conn.execute(
        "SELECT gate, COUNT(DISTINCT skill_id) FROM gate_results WHERE passed = 0 GROUP BY gate ORDER BY 2 DESC"
    ):
        data.gate_failures[gate] = count
    data.candidates = conn.execute("SELECT COUNT(*) FROM skills").fetchone()[0]
    data.promoted = conn.execute(
        "SELECT COUNT(*) FROM skills WHERE status = 'promoted'"
    ).fetchone()[0]
    return data


HEADERS = [
    "condition",
    "backbone",
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
]


def table_rows(data: ReportData) -> list[list]:
    out = []
    for r in data.overall + data.rows:
        c = data.comparisons.get((r.condition, r.backbone))
        out.append(
            [
                r.condition,
                r.backbone,
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
            ]
        )
    return out


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
    lines += ["", "## Success on the final attempt", ""]
    ref = data.reference
    lines.append(
        f"Reference condition: `{ref}`." if ref else data.note or "No reference condition."
    )
    lines += [
        "",
        "| condition | backbone | n | successes | rate | Wilson 95% | any-attempt successes (not the rate) | vs ref (pp) | Newcombe 95% (pp) | binomial p (A>ref) | Fisher p (2-sided) | CIs overlap | mean reward | blocks | regenerations | tokens | cost $ |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in data.overall + data.rows:
        c = data.comparisons.get((r.condition, r.backbone))
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
                ]
            )
            + " |"
        )
    if "success" in images:
        lines += ["", f"![success rates with Wilson 95% intervals]({images['success']})"]
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
    u = data.usage
    if u is not None and (u.total_calls or u.skills):
        lines += [
            "",
            f"Library skills were called {u.total_calls} times; the top skill took {_pct(u.top_share(1))} of calls, the top 3 {_pct(u.top_share(3))}. "
            f"Dead skills (in a library, never called): {', '.join(u.dead) or 'none'}.",
            "",
            "| skill | calls | share | trials | success when called | rewritten on retry |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in u.rows()[:20]:
            rate = "-" if r["success_when_called"] is None else _pct(r["success_when_called"])
            lines.append(
                f"| {r['skill']} | {r['calls']} | {_pct(r['share'])} | {r['trials']} | {rate} | {r['rewritten_on_retry']} |"
            )
        if "usage" in images:
            lines += ["", f"![calls per skill]({images['usage']})"]
    return "\n".join(lines) + "\n"


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
    """success.png/.svg (rates with Wilson bars) and usage.png/.svg (calls per skill)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, str] = {}
    rows = data.rows if len({r.backbone for r in data.rows}) > 1 else data.overall
    if rows:
        labels = [
            r.condition if r.backbone == "all" else f"{r.condition}\n{r.backbone}" for r in rows
        ]
        rates = [100 * r.rate for r in rows]
        lower = [100 * (r.rate - r.low) for r in rows]
        upper = [100 * (r.high - r.rate) for r in rows]
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
    if data.usage is not None and data.usage.total_calls:
        used = [r for r in data.usage.rows() if r["calls"] or r["dead"]][:25]
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
        ax.set_ylabel("calls in later trials")
        ax.set_title(
            f"Skill usage: top 3 take {100 * data.usage.top_share(3):.0f}% of calls (red = dead)",
            fontsize=11,
        )
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(out / f"usage.{ext}", dpi=120)
        plt.close(fig)
        files["usage"] = "usage.png"
    return files


def write_report(db: Path, out: Path, reference: str | None = None, fmt: str = "md") -> Path:
    """Write the report (and its plots) into ``out``; returns the report file."""
    database = open_db(db)
    try:
        data = collect(database.conn, None if reference == "P21_a" else reference)
        if reference not in (None, "P21_a") and data.reference != reference:
            raise UserError(f"reference condition {reference!r} not found")
    finally:
        database.conn.close()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
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
    return out / name
