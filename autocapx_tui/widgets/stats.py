"""Success per condition with Wilson 95% intervals drawn as text bars, against the reference."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
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


class StatsPane(Vertical):
    DEFAULT_CSS = """
    #stats-title {
        height: auto;
        padding: 0 1;
    }
    #stats-table {
        height: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(
            "success on the final attempt, Wilson 95% interval (0% … 100%)", id="stats-title"
        )
        yield DataTable(id="stats-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "condition", "backbone", "n", "rate", "interval", "95% CI", "vs ref"
        )

    @staticmethod
    def fetch(feed) -> dict:
        config = feed.session()["config"]
        reference = (config.get("session") or {}).get("reference") or "P21_a"
        return {"rows": feed.summary(), "reference": reference}

    def refresh_from(self, feed) -> None:
        self.apply(self.fetch(feed))

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
