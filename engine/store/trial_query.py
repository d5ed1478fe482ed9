"""One page of a session's trial runs, filtered and sorted in SQLite.

A viewer of a 100,000-trial session never holds all its rows: it asks for the count and for
the page on screen, and SQLite does the filtering, sorting and skipping (each an indexed or
single-pass query of a few milliseconds at that size).
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("success", "failed", "error", "running", "abandoned")
SORTS = {
    "run": "run_id",
    "seed": "seed, run_id",
    "blocks": "n_blocks DESC, run_id",
    "time": "wall_time_s DESC, run_id",
    "outcome": "status, final_success DESC, run_id",
}
COLUMNS = (
    "run_id, trial_key, condition, backbone, round, seed, status, final_success, any_success, "
    "n_blocks, end_reason, error, wall_time_s"
)


@dataclass(frozen=True)
class TrialFilter:
    """Which trial runs to list: every field that is set must match."""

    condition: str = ""
    backbone: str = ""
    round: int | None = None
    outcome: str = ""
    """One of :data:`OUTCOMES`, or empty for all."""
    text: str = ""
    """A substring of the trial key or of its error, or an exact run id or seed."""

    def where(self) -> tuple[str, tuple]:
        """The WHERE clause (with a leading ``WHERE`` when not empty) and its parameters."""
        parts: list[str] = []
        params: list[object] = []
        if self.condition:
            parts.append("condition = ?")
            params.append(self.condition)
        if self.backbone:
            parts.append("backbone = ?")
            params.append(self.backbone)
        if self.round is not None:
            parts.append("round = ?")
            params.append(self.round)
        if self.outcome == "success":
            parts.append("status = 'done' AND final_success = 1")
        elif self.outcome == "failed":
            parts.append("status = 'done' AND final_success = 0")
        elif self.outcome:
            parts.append("status = ?")
            params.append(self.outcome)
        if self.text:
            clause = "(trial_key LIKE ? ESCAPE '\\' OR error LIKE ? ESCAPE '\\'"
            like = (
                "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            params += [like, like]
            if self.text.isdigit():
                clause += " OR run_id = ? OR seed = ?"
                params += [int(self.text), int(self.text)]
            parts.append(clause + ")")
        return (" WHERE " + " AND ".join(parts) if parts else ""), tuple(params)


def page_sql(trial_filter: TrialFilter, sort: str, offset: int, limit: int) -> tuple[str, tuple]:
    where, params = trial_filter.where()
    order = SORTS.get(sort, SORTS["run"])
    sql = f"SELECT {COLUMNS} FROM trials{where} ORDER BY {order} LIMIT ? OFFSET ?"
    return sql, (*params, int(limit), max(0, int(offset)))


def count_sql(trial_filter: TrialFilter) -> tuple[str, tuple]:
    where, params = trial_filter.where()
    return f"SELECT COUNT(*) FROM trials{where}", params
