"""Success per condition with Wilson 95% intervals drawn as text bars, against the reference."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

BAR = 30


def interval_bar(low: float, rate: float, high: float, width: int = BAR) -> str:
    """A text picture of an interval on 0..100%: '[' low, '|' rate, ']' high (no colour needed)."""
    cells = [" "] * width
    lo, mid, hi = (min(width - 1, int(round(v * (width - 1)))) for v in (low, rate, high))
    for i in range(lo, hi + 1):
        cells[i] = "─"
    cells[lo], cells[hi], cells[mid] = "[", "]", "|"
    return "".join(cells)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:+.0f}"


def design_lines(design) -> list[str]:
    """The experiment design in words: the plan's verdicts, each paired contrast (exact
    McNemar, and the anytime-valid verdict that may be read at any time), each arm's
    anytime-valid interval and cost per success, and spend against budget."""
    if design is None:
        return []
    lines = []
    if design.plan.plan is not None:
        lines.append("[b]pre-registered plan[/b]")
        lines += [f"  {escape(v.words)}" for v in design.plan.verdicts]
        lines += [f"  DEVIATION: {escape(str(d))}" for d in design.plan.deviations]
    if design.contrasts:
        lines.append("[b]paired by seed[/b] (b: only it succeeded, c: only the reference did)")
        for c in design.contrasts:
            p, t, q = c.paired, c.paired.test, c.sequential
            lines.append(
                f"  {p.condition} vs {p.reference} · {p.backbone}: {p.n_pairs} pairs, "
                f"b={t.b} c={t.c}, exact p={t.p_exact_two_sided:.3g}, diff {_pct(t.diff)} pp "
                f"({_pct(t.diff_low)}…{_pct(t.diff_high)}) · anytime: {q.verdict}"
            )
    if design.arms:
        lines.append(
            f"[b]anytime-valid {100 * (1 - design.alpha):.0f}% intervals[/b] (valid however "
            "often you look; the Wilson interval above is not)"
        )
        for a in design.arms:
            cps = "-" if a.cost_per_success_usd is None else f"${a.cost_per_success_usd:.4f}"
            settled = " · SETTLED" if a.settled else ""
            lines.append(
                f"  {a.condition} · {a.backbone}: {100 * a.cs_low:.0f}–{100 * a.cs_high:.0f}% · "
                f"cost/success {cps}{settled}"
            )
    for sp in design.spend:
        limit = []
        if sp.max_cost_usd:
            limit.append(f"of ${sp.max_cost_usd:g}")
        if sp.max_tokens:
            limit.append(f"of {sp.max_tokens:,} tokens")
        lines.append(
            f"spend {sp.scope}: ${sp.cost_usd:.4f}, {sp.tokens:,} tokens"
            + (f" ({', '.join(limit)})" if limit else "")
        )
    return lines


class StatsPane(Vertical):
    DEFAULT_CSS = """
    #stats-title {
        height: auto;
        padding: 0 1;
    }
    #stats-table {
        height: auto;
        max-height: 1fr;
    }
    #stats-design {
        height: 1fr;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(
            "success on the final attempt, Wilson 95% interval (0% … 100%)", id="stats-title"
        )
        yield DataTable(id="stats-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="stats-design"):
            yield Static("", id="stats-design-text")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "condition", "backbone", "n", "rate", "interval", "95% CI", "vs ref"
        )

    @staticmethod
    def fetch(feed) -> dict:
        config = feed.session()["config"]
        reference = (config.get("session") or {}).get("reference") or "P21_a"
        return {"rows": feed.summary(), "reference": reference, "design": feed.design()}

    def apply(self, data: dict) -> None:
        rows, reference = data["rows"], data["reference"]
        refs = {(r.backbone, r.round): r for r in rows if r.condition == reference}
        several_rounds = len({r.round for r in rows}) > 1
        cells = []
        for r in rows:
            ref = refs.get((r.backbone, r.round))
            diff = (
                "ref"
                if r.condition == reference
                else ("-" if ref is None else f"{100 * (r.rate - ref.rate):+.0f} pp")
            )
            cells.append(
                (
                    f"{r.condition} · r{r.round}" if several_rounds else r.condition,
                    r.backbone,
                    str(r.n),
                    f"{100 * r.rate:.0f}%",
                    interval_bar(r.low, r.rate, r.high),
                    f"{100 * r.low:.0f}–{100 * r.high:.0f}%",
                    diff,
                )
            )
        if cells != getattr(self, "_cells", None):
            self._cells = cells
            table = self.query_one(DataTable)
            table.clear()
            table.add_rows(cells)
        design = "\n".join(design_lines(data.get("design")))
        if design != getattr(self, "_design", None):
            self._design = design
            self.query_one("#stats-design-text", Static).update(design)
