"""Sweep overview: progress per arm (condition x backbone x round), running, errors, ETA.

The ETA comes from the pace of the last trials to finish, so it follows a sweep that speeds up
or slows down and does not depend on when the session's status last changed.
"""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from engine.invocation import command_prefix


def eta_text(finishes: list[float], remaining: int) -> str:
    """Time left at the pace of the recent finishes (``finishes``: their times, oldest first)."""
    if remaining <= 0:
        return "done"
    if len(finishes) < 2 or finishes[-1] <= finishes[0]:
        return "-"
    per_trial = (finishes[-1] - finishes[0]) / (len(finishes) - 1)
    minutes = remaining * per_trial / 60
    return f"{minutes:.0f} min" if minutes >= 1 else "< 1 min"


def runner_line(runner, resume_command: str) -> str:
    """What the header says about the runner (alive, stalled, gone) and what to do."""
    if runner.state == "gone":
        return (
            f"[reverse]RUNNER GONE[/reverse] {escape(runner.words())}: trials shown running "
            f"were cut off · r: resume it here, or run: {escape(resume_command)}"
        )
    if runner.state == "stalled":
        return f"[reverse]RUNNER STALLED[/reverse] {escape(runner.words())}"
    return escape(runner.words())


class OverviewPane(Vertical):
    DEFAULT_CSS = """
    #overview-header {
        height: auto;
        padding: 0 1;
    }
    #overview-table {
        height: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="overview-header")
        yield DataTable(id="overview-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("condition", "backbone", "done", "successes", "rate", "running", "errors")

    @staticmethod
    def fetch(feed) -> dict:
        """The queries (run off the UI thread)."""
        session = feed.session()
        config = session["config"]
        per_cell = config.get("session", {}).get("trials_per_condition", 0)
        return {
            "session": session,
            "per_cell": per_cell or 1,
            "progress": feed.progress(),
            "finishes": feed.recent_finishes(),
            "running": feed.running_counts(),
            "errors": feed.error_counts(),
            "summary": feed.summary(),
            "waiting": feed.runner_waiting_s(),
            "runner": feed.runner_state(),
        }

    def apply(self, data: dict) -> None:
        session, per_cell_total, progress = data["session"], data["per_cell"], data["progress"]
        done, total = progress["done"], session["total_trials"]
        kind = "SYNTHETIC offline coder" if session["synthetic"] else "LLM"
        eta = eta_text(data.get("finishes") or [], total - done)
        executor = session["config"].get("_executor") or {}
        if executor.get("kind", "local") != "local":  # say so when trials run elsewhere
            kind += f" on {executor['kind']}"
        if session.get("privileged"):  # the LLM saw simulator ground truth: never unlabelled
            kind += " · [reverse]PRIVILEGED[/reverse] (" + "; ".join(session["privileged"]) + ")"
        text = (
            f"[b]{session['id']}[/b]  ·  {session['task']}  ·  {kind}  ·  status: {session['status'].upper()}\n"
            f"{done}/{total} trials done · {progress['successes']} succeeded · ETA {eta}"
        )
        runner = data.get("runner")
        if session["status"] == "finished":  # where to go from here
            text += f"\nFINISHED · next: {command_prefix()} report {session['id']} (q leaves)"
        elif session["status"] == "stopped":
            text += (
                f"\nSTOPPED · r: resume it here, or run: {escape(data.get('resume_command', ''))}"
            )
        elif runner is not None:
            text += "\n" + runner_line(runner, data.get("resume_command", ""))
        if data.get("halted"):
            text += f"\n[reverse]HALTED[/reverse] {escape(data['halted'])}"
        n_errors = sum(data["errors"].values())
        if n_errors:
            text += f"\n{n_errors} runs lost to errors · e: read them"
        if data.get("waiting") is not None:  # the runner cannot write: another process's lock
            text += (
                f"\n[reverse]WAITING FOR THE DATABASE[/reverse] for {data['waiting']:.0f} s: "
                "another process holds its lock; nothing is lost, the sweep goes on after"
            )
        if text != getattr(self, "_header", None):  # an unchanged update still costs a layout
            self._header = text
            self.query_one("#overview-header", Static).update(text)
        table = self.query_one(DataTable)
        running, errors = data["running"], data["errors"]
        if runner is not None and runner.state == "gone":  # nothing runs without a runner
            running = {}
        rows = {s.arm: s for s in data["summary"]}
        keys = sorted(set(rows) | set(running) | set(errors), key=lambda k: (k[2], k[0], k[1]))
        several_rounds = len({k[2] for k in keys}) > 1
        cells = []
        for key in keys:
            s = rows.get(key)
            n = s.n if s else 0
            cells.append(
                (
                    f"{key[0]} · r{key[2]}" if several_rounds else key[0],
                    key[1],
                    f"{n}/{per_cell_total}",
                    str(s.k) if s else "0",
                    f"{100 * s.rate:.0f}%" if s else "-",
                    str(running.get(key, 0)),
                    str(errors.get(key, 0)),
                )
            )
        if cells != getattr(self, "_cells", None):
            self._cells = cells
            table.clear()
            table.add_rows(cells)
