"""The table queries behind the panes, over one store reader.

Each worker thread of the session screen owns one :class:`StoreQueries` (and so one SQLite
connection): connections are never shared between threads, and the UI thread runs none of
these while the console is live.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from autocapx_tui.feed import TrialView
from engine.store.liveness import RunnerState
from engine.store.reader import SessionReader, StoredEvent
from engine.store.trial_query import TrialFilter

if TYPE_CHECKING:
    from engine.stats.summary import ConditionSummary

SKILL_COLUMNS = (
    "id",
    "name",
    "status",
    "override",
    "occurrences",
    "success_rate",
    "quality",
    "source",
)


class StoreQueries:
    """What the panes ask of the store, each answer a plain value a message can carry."""

    def __init__(self, db: Path, timeout_s: float | None = None) -> None:
        self.reader = SessionReader(db, timeout_s=timeout_s)

    def events_since(self, seq: int, limit: int = 5000) -> list[StoredEvent]:
        return self.reader.events_since(seq, limit=limit)

    def last_seq(self) -> int:
        """The newest event's number: a pane's data can change only when it does."""
        return self.reader.last_seq()

    def session(self) -> dict:
        return self.reader.session()

    def progress(self) -> dict:
        return self.reader.progress()

    def summary(self) -> list[ConditionSummary]:
        # scipy and statsmodels come with the statistics: imported here, on a worker thread
        # after the first paint, never before it
        from engine.stats.summary import live_summary

        return live_summary(self.reader, by_backbone=True)

    def design(self):
        """The experiment design now (plan verdicts, paired contrasts, anytime-valid
        intervals, spend), from :mod:`engine.stats.live`; imported on this worker thread."""
        from engine.stats.live import design_now

        return design_now(self.reader)

    def evidence(self, skill_id: str) -> list[str]:
        """A skill's evidence as lines (:mod:`engine.skills.evidence`), or why there is none."""
        from engine.errors import UserError
        from engine.skills.evidence import evidence_lines, skill_evidence

        try:
            return evidence_lines(skill_evidence(self.reader, skill_id), width=86)
        except UserError as exc:
            return [f"no evidence: {exc}"]

    def version_curve(self) -> list:
        """Success per library version of each condition (:mod:`engine.skills.evolution`, the
        report's learning curve); imported on the reading side."""
        from engine.skills.evolution import version_curve

        return version_curve(self.reader)

    def runner_state(self) -> RunnerState:
        return self.reader.runner_state()

    def trial_page(
        self, trial_filter: TrialFilter, sort: str, offset: int, limit: int
    ) -> tuple[int, list[dict]]:
        return self.reader.trial_page(trial_filter, sort, offset, limit)

    def block_frames(self, run_id: int, block: int) -> dict:
        return self.reader.block_frames(run_id, block)

    def finished_in_order(self) -> list[dict]:
        return self.reader.finished_in_order()

    def blocks(self, run_id: int) -> list[dict]:
        """Every stored block of one run (code, feedback, exception) for the timeline."""
        return self.reader.blocks(run_id)

    def running_counts(self) -> dict[tuple[str, str, int], int]:
        """Trials running now, per arm (condition, backbone, round)."""
        return self.reader.arm_status_counts("running")

    def error_counts(self) -> dict[tuple[str, str, int], int]:
        """Trial runs lost to infrastructure, per arm (condition, backbone, round)."""
        return self.reader.arm_status_counts("error")

    def runner_waiting_s(self) -> float | None:
        """How long the runner has waited for another process's database lock (None: not)."""
        return self.reader.runner_waiting_s()

    def recent_finishes(self, n: int = 10) -> list[float]:
        """When the last ``n`` trials finished (oldest first): the pace behind the ETA."""
        return self.reader.recent_finish_times(n)

    def skills(self) -> list[dict]:
        rows = [{k: r[k] for k in SKILL_COLUMNS} for r in self.reader.skills(limit=500)]
        reasons: dict[str, list[str]] = {}
        first_failed: dict[str, str] = {}
        for g in self.reader.gate_results():
            mark = "PASS" if g["passed"] else "FAIL"
            reasons.setdefault(g["skill_id"], []).append(f"{mark} {g['gate']}: {g['reason']}")
            if not g["passed"]:
                first_failed.setdefault(g["skill_id"], g["gate"])
        for r in rows:
            r["gates"] = reasons.get(r["id"], [])
            r["first_failed"] = first_failed.get(r["id"], "")
        return rows

    def load_trial(self, run_id: int) -> TrialView | None:
        """A finished trial from its stored blocks (for the trial browser)."""
        row = self.reader.trial_run(run_id)
        if row is None:
            return None
        model = row.get("served_model") or row["model"] or ""  # what the server says answered
        view = TrialView(
            row["trial_key"], run_id, row["condition"], row["backbone"], row["seed"], model
        )
        view.synthetic = bool(row["synthetic"])
        for b in self.reader.blocks(run_id):
            bv = view.block(b["idx"])
            bv.decision, bv.code = b["decision"], b["code"] or ""
            if b["executed"]:
                bv.result = b["violation"] or b["killed"] or b["exception"] or "ran clean"
                bv.success, bv.reward = bool(b["success"]), b["reward"]
                bv.exception = b["violation"] or b["killed"] or b["exception"] or ""
                for line in (b["stdout"] or "").splitlines():
                    view.add_line(line)
            view.status = b["sim_summary"] or view.status
        if row["status"] in ("done", "error", "abandoned"):
            view.finished = {
                "final_success": bool(row["final_success"]),
                "end_reason": row["end_reason"],
                "error": row["error"],
            }
        return view

    def send(self, action: str, args: dict | None = None) -> int:
        return self.reader.send_command(action, args)

    def close(self) -> None:
        self.reader.close()
