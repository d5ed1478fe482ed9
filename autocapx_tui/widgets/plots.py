"""Plots: each arm's success rate as its trials finish, with its Wilson 95% band, the spend
over time, and, once a condition's library has changed during the session (``mine_every``,
``evolve``), its success per library version: the report's learning curve. Drawn with
textual-plotext; its import waits until the pane is first shown, so it never delays the first
paint. ``serve`` shows the same pane in the browser."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class PlotsPane(Vertical):
    DEFAULT_CSS = """
    #plots-title {
        height: auto;
        padding: 0 1;
    }
    PlotsPane PlotextPlot {
        height: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("plots appear with the first finished trial", id="plots-title")

    @staticmethod
    def fetch(queries) -> dict:
        from engine.stats.curves import spend_curve, success_curves

        rows = queries.finished_in_order()
        return {
            "success": success_curves(rows),
            "spend": spend_curve(rows),
            "done": len(rows),
            "versions": learning_curves(queries.version_curve()),
        }

    def _plot(self, name: str):
        """The plot widget ``plot-NAME``, made on first use (that is when plotext is imported)."""
        found = self.query(f"#plot-{name}")
        if found:
            return found.first()
        from textual_plotext import PlotextPlot

        made = PlotextPlot(id=f"plot-{name}")
        self.mount(made)
        return made

    def apply(self, data: dict) -> None:
        key = (data["done"], data["success"], data["spend"], data["versions"])
        if key == getattr(self, "_drawn", None):
            return
        self._drawn = key
        self.query_one("#plots-title", Static).update(
            f"{data['done']} finished trials · success on the final attempt with Wilson 95% "
            "band (dotted) · spend so far"
        )
        if not data["done"]:
            return
        success, spend = self._plot("success"), self._plot("spend")
        plt = success.plt
        plt.clear_figure()
        several_rounds = len({c.arm[2] for c in data["success"]}) > 1
        for curve in data["success"]:
            name = f"{curve.arm[0]} · {curve.arm[1]}" + (
                f" · r{curve.arm[2]}" if several_rounds else ""
            )
            plt.plot(curve.n, [100 * v for v in curve.rate], label=name, marker="braille")
            plt.plot(curve.n, [100 * v for v in curve.low], marker="dot")
            plt.plot(curve.n, [100 * v for v in curve.high], marker="dot")
        plt.ylim(0, 100)
        plt.title("success % after n trials of each arm")
        plt.xlabel("trials done in the arm")
        success.refresh()
        s = data["spend"]
        plt = spend.plt
        plt.clear_figure()
        if any(s.cost_usd):
            plt.plot(s.minutes, s.cost_usd, label="cost USD", marker="braille")
            plt.title("spend: cumulative cost (USD)")
        else:  # the synthetic coder costs nothing: tokens are the spend there is
            plt.plot(s.minutes, s.tokens, label="tokens", marker="braille")
            plt.title("spend: cumulative tokens (no cost recorded)")
        plt.xlabel("minutes since the first trial finished")
        spend.refresh()
        if data["versions"]:
            self._draw_versions(self._plot("versions"), data["versions"])

    @staticmethod
    def _draw_versions(widget, curves: dict) -> None:
        plt = widget.plt
        plt.clear_figure()
        for condition, points in curves.items():
            x = list(range(1, len(points) + 1))
            plt.plot(x, [100 * p[1] for p in points], label=condition, marker="braille")
            plt.plot(x, [100 * p[2] for p in points], marker="dot")
            plt.plot(x, [100 * p[3] for p in points], marker="dot")
        plt.ylim(0, 100)
        plt.title("success % per library version (Wilson 95%), in the order trials used them")
        plt.xlabel("library version of the condition")
        widget.refresh()


def learning_curves(points: list) -> dict[str, tuple[tuple[str, float, float, float], ...]]:
    """Per condition whose library changed (two versions or more): (version, rate, low, high)
    in the order its trials used them."""
    by_condition: dict[str, list] = {}
    for p in points:
        by_condition.setdefault(p.condition, []).append(
            (p.version, p.success.rate, p.success.low, p.success.high)
        )
    return {c: tuple(v) for c, v in by_condition.items() if len(v) > 1}
