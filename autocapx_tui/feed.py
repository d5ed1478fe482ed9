"""What the console knows about a session, fed from the store's events and tables.

Events are read in batches by sequence number (a viewer that re-attaches starts from the
beginning and catches up); only what the panes show is kept, with bounded buffers, so memory
stays flat however long the sweep runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from engine.stats.summary import ConditionSummary, live_summary
from engine.store.reader import SessionReader, StoredEvent

MAX_STDOUT_LINES = 400
MAX_CODE_CHARS = 60_000
MAX_TRIALS_TRACKED = 64


@dataclass
class BlockView:
    index: int
    decision: str = ""
    code: str = ""
    result: str = ""
    success: bool | None = None
    reward: float | None = None


@dataclass
class TrialView:
    key: str
    condition: str = ""
    backbone: str = ""
    seed: int = 0
    model: str = ""
    synthetic: bool = False
    privileged: bool = False
    """The LLM of this trial saw simulator ground truth (labelled PRIVILEGED)."""
    stream: str = ""
    """Text streamed for the current block (LLM reply being written)."""
    stdout: deque = field(default_factory=lambda: deque(maxlen=MAX_STDOUT_LINES))
    stdout_total: int = 0
    """Lines ever appended (the deque keeps the last few), so views can append just the new."""
    status: dict = field(default_factory=dict)
    blocks: dict[int, BlockView] = field(default_factory=dict)
    finished: dict | None = None
    where: str = ""
    """Where the trial runs when that is not this machine's engine (a Ray worker)."""
    lost: str = ""
    """Why the worker of the trial's previous run died, until the re-run starts."""

    def add_line(self, line: str) -> None:
        self.stdout.append(line)
        self.stdout_total += 1

    def block(self, index: int) -> BlockView:
        return self.blocks.setdefault(index, BlockView(index))


class SessionFeed:
    """Reads one session: incremental events plus table queries for the panes."""

    def __init__(self, db: Path) -> None:
        self.reader = SessionReader(db)
        self.last_seq = 0
        self.trials: dict[str, TrialView] = {}
        self.order: deque[str] = deque(maxlen=MAX_TRIALS_TRACKED)
        self.latest: str | None = None
        self.skill_events = 0

    def session(self) -> dict:
        return self.reader.session()

    def poll(self, limit: int = 5000) -> int:
        """Apply new events; returns how many were read."""
        events = self.reader.events_since(self.last_seq, limit=limit)
        for event in events:
            self._apply(event)
        if events:
            self.last_seq = events[-1].seq
        return len(events)

    def _trial(self, key: str) -> TrialView:
        view = self.trials.get(key)
        if view is None:
            view = self.trials[key] = TrialView(key)
            self.order.append(key)  # a bounded deque: the oldest key falls out
            if len(self.trials) > MAX_TRIALS_TRACKED:
                for old in [k for k in self.trials if k not in self.order]:
                    del self.trials[old]
        return view

    def _apply(self, e: StoredEvent) -> None:
        d = e.data
        if e.kind in ("skill_candidate", "library_version", "decision_recorded"):
            self.skill_events += 1
            return
        if not e.trial_key:
            return
        t = self._trial(e.trial_key)
        if e.kind == "trial_started":
            t.condition, t.backbone, t.seed = (
                d.get("condition", ""),
                d.get("backend", ""),
                d.get("seed", 0),
            )
            t.model, t.synthetic = d.get("model", ""), bool(d.get("synthetic"))
            t.privileged = bool(d.get("privileged"))
            t.stream, t.finished = "", None
            t.blocks.clear()
            t.stdout.clear()
            t.stdout_total = 0
            if t.lost:  # the run before this one died with its worker
                t.add_line(f"── worker lost: {t.lost}; the trial runs again")
                t.lost = ""
            if t.where:
                t.add_line(f"── running on {t.where}")
            self.latest = e.trial_key
        elif e.kind == "trial_placed":
            t.where = (
                f"{d.get('host', '?')} (pid {d.get('pid', '?')}, node {str(d.get('node', ''))[:8]})"
            )
        elif e.kind == "worker_lost":
            t.lost = d.get("reason", "") or "?"
            t.add_line(f"── worker lost: {t.lost}")
        elif e.kind == "llm_delta":
            if d.get("restart"):
                t.stream = ""
            else:
                t.stream = (t.stream + d.get("text", ""))[-MAX_CODE_CHARS:]
        elif e.kind == "decision":
            t.block(d["block"]).decision = d["decision"]
        elif e.kind == "code_ready":
            t.block(d["block"]).code = d.get("code", "")[-MAX_CODE_CHARS:]
        elif e.kind == "exec_started":
            t.add_line(f"── block {d['block']} runs")
        elif e.kind == "stdout":
            t.add_line(d.get("line", ""))
        elif e.kind == "sim_status":
            t.status = d
        elif e.kind == "exec_result":
            b = t.block(d["block"])
            b.result = d.get("violation") or d.get("killed") or d.get("exception") or "ran clean"
            b.success, b.reward = bool(d.get("success")), d.get("reward")
            t.status = d.get("status") or t.status
            t.stream = ""
        elif e.kind == "trial_finished":
            t.finished = d
            t.model = d.get("served_model") or t.model

    # ------------------------------------------------------------ table queries
    def progress(self) -> dict:
        return self.reader.progress()

    def summary(self) -> list[ConditionSummary]:
        return live_summary(self.reader.conn, by_backbone=True)

    def running_counts(self) -> dict[tuple[str, str, int], int]:
        """Trials running now, per arm (condition, backbone, round)."""
        return self._counts("running")

    def error_counts(self) -> dict[tuple[str, str, int], int]:
        """Trial runs lost to infrastructure, per arm (condition, backbone, round)."""
        return self._counts("error")

    def _counts(self, status: str) -> dict[tuple[str, str, int], int]:
        rows = self.reader.query(
            "SELECT condition, backbone, round, COUNT(*) AS n FROM trials WHERE status = ? "
            "GROUP BY 1, 2, 3",
            (status,),
        )
        return {(r["condition"], r["backbone"], r["round"]): r["n"] for r in rows}

    def recent_finishes(self, n: int = 10) -> list[float]:
        """When the last ``n`` trials finished (oldest first): the pace behind the ETA."""
        rows = self.reader.query(
            "SELECT finished_at FROM trials WHERE status = 'done' AND finished_at IS NOT NULL "
            "ORDER BY finished_at DESC LIMIT ?",
            (n,),
        )
        return sorted(r["finished_at"] for r in rows)

    def skills(self) -> list[dict]:
        rows = self.reader.query(
            "SELECT id, name, status, override, occurrences, success_rate, quality, source FROM skills "
            "ORDER BY CASE WHEN status = 'promoted' THEN 0 ELSE 1 END, quality DESC, name LIMIT 500"
        )
        reasons: dict[str, list[str]] = {}
        for g in self.reader.query(
            "SELECT skill_id, gate, passed, reason FROM gate_results ORDER BY id"
        ):
            mark = "PASS" if g["passed"] else "FAIL"
            reasons.setdefault(g["skill_id"], []).append(f"{mark} {g['gate']}: {g['reason']}")
        for r in rows:
            r["gates"] = reasons.get(r["id"], [])
        return rows

    def finished_trials(self, limit: int = 300) -> list[dict]:
        return self.reader.query(
            "SELECT run_id, trial_key, condition, backbone, seed, final_success, any_success, n_blocks, "
            "end_reason, wall_time_s FROM trials WHERE status = 'done' ORDER BY run_id DESC LIMIT ?",
            (limit,),
        )

    def load_trial(self, run_id: int) -> TrialView:
        """A finished trial from its stored blocks (for the trial browser)."""
        row = self.reader.query("SELECT * FROM trials WHERE run_id = ?", (run_id,))[0]
        model = row.get("served_model") or row["model"] or ""  # what the server says answered
        view = TrialView(row["trial_key"], row["condition"], row["backbone"], row["seed"], model)
        view.synthetic = bool(row["synthetic"])
        for b in self.reader.blocks(run_id):
            bv = view.block(b["idx"])
            bv.decision, bv.code = b["decision"], b["code"] or ""
            if b["executed"]:
                bv.result = b["violation"] or b["killed"] or b["exception"] or "ran clean"
                bv.success, bv.reward = bool(b["success"]), b["reward"]
                for line in (b["stdout"] or "").splitlines():
                    view.add_line(line)
            view.status = b["sim_summary"] or view.status
        view.finished = {
            "final_success": bool(row["final_success"]),
            "end_reason": row["end_reason"],
        }
        return view

    def send(self, action: str, args: dict | None = None) -> int:
        return self.reader.send_command(action, args)

    def close(self) -> None:
        self.reader.close()
