"""Budgets: a sweep stops starting trials at its budget, says why, and resumes past it with a
raised one; the analysis plan is frozen with the session (a changed one is refused, or with
--force recorded as a deviation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import UserError
from engine.stats.budget import session_spend, spend_rows, tokens_by_backbone
from engine.store.reader import SessionReader
from engine.store.sessions import DB_NAME
from engine.store.writer import SessionWriter
from engine.sweep.plan import plan_trials
from engine.sweep.runner import SweepRunner
from engine.sweep.session import config_for_resume, create_session, stored_config
from engine.trial.records import BlockRecord, TrialRecord
from engine.trial.spec import LibrarySnapshot
from tests.sweep_helpers import autocapx, query

PROMPT, COMPLETION = 1000, 100
"""Tokens of every fake trial (one block, one call)."""


class FakeTrials:
    """An executor that runs no simulation: each trial is one block of known tokens, and
    succeeds on even seeds for condition A and on seeds divisible by 3 for the reference."""

    def __init__(self, rule=None) -> None:  # noqa: ANN001 - (condition, seed) -> success
        self.ran: list[str] = []
        self.rule = rule or (lambda cond, seed: seed % 2 == 0 if cond == "A" else seed % 3 == 0)

    async def start(self) -> dict:
        return {"executor": "fake"}

    async def close(self) -> None:
        return None

    async def run(self, spec, backbone, *, sink, on_block, on_placed):
        self.ran.append(spec.trial_id)
        block = BlockRecord(
            index=0, decision="finish", prompt="", reply="", prompt_tokens=PROMPT,
            completion_tokens=COMPLETION,
        )  # fmt: skip
        on_block(block)
        seed = spec.world.seed
        success = bool(self.rule(spec.condition, seed))
        record = TrialRecord(
            spec.trial_id, spec.world.task, seed, backbone.backend, backbone.model_label, True,
            condition=spec.condition, final_success=success, any_success=success, blocks=[block],
            end_reason="finish", prompt_tokens=PROMPT, completion_tokens=COMPLETION,
        )  # fmt: skip
        record.cost_usd = spec.price.cost(PROMPT, COMPLETION)
        return record


def _config(path: Path, session: str = "", backbones: str = "", analysis: str = "") -> Path:
    backbones = backbones or 'name = "x"\nprice_input_per_m = 1000\nprice_output_per_m = 1000'
    path.write_text(
        f"""
[session]
name = "b"
trials_per_condition = 3
concurrency = 1
quality = "fast"
reference = "ref"
{session}

[[backbones]]
{backbones}

[[conditions]]
name = "ref"

[[conditions]]
name = "A"
{analysis}
"""
    )
    return path


async def _run(
    directory: Path, config_file: Path | None = None, force: bool = False, rule=None
) -> str:  # noqa: ANN001
    config = (
        config_for_resume(directory, force, config_file)
        if config_file
        else stored_config(directory)[0]
    )
    writer = SessionWriter(directory / DB_NAME, create=False)
    writer.attach()
    try:
        runner = SweepRunner(config, writer, lambda _: LibrarySnapshot(), executor=FakeTrials(rule))
        return await runner.run(plan_trials(config))
    finally:
        writer.close()


def test_spend_is_tokens_times_prices_by_hand() -> None:
    calls = [
        {"run_id": 1, "prompt_tokens": 1000, "completion_tokens": 10},
        {"run_id": 1, "prompt_tokens": 2000, "completion_tokens": 20},
        {"run_id": 2, "prompt_tokens": 500, "completion_tokens": None},  # a failed call
        {"run_id": 9, "prompt_tokens": 7, "completion_tokens": 7},  # no such run: not counted
    ]
    runs = [{"run_id": 1, "backbone": "x"}, {"run_id": 2, "backbone": "y"}]
    config = {
        "session": {"max_cost_usd": 0.01},
        "backbones": [
            {"name": "x", "price_input_per_m": 2.0, "price_output_per_m": 10.0},
            {"name": "y", "price_input_per_m": 1.0, "max_total_tokens": 400},
        ],
    }
    rows = spend_rows(config, tokens_by_backbone(calls, runs))
    x, y, total = rows
    assert (x.calls, x.tokens, x.cost_usd) == (2, 3030, pytest.approx((3000 * 2 + 30 * 10) / 1e6))
    assert (y.tokens, y.cost_usd) == (500, pytest.approx(500 / 1e6))
    assert y.reason == "budget reached: backbone y used 500 of 400 tokens"
    assert total.scope == "session" and total.cost_usd == pytest.approx(0.0068)
    assert total.reason == "" and x.reason == ""


async def test_a_session_budget_stops_cleanly_and_a_raised_one_resumes_past_it(
    tmp_path: Path,
) -> None:
    # $1.10 per trial (1000 + 100 tokens at $1000 per million): the third starts at $2.20 < $2.50
    file = _config(tmp_path / "s.toml", session="max_cost_usd = 2.5")
    directory = create_session(load_config(file), tmp_path / "sessions", file)
    db = directory / DB_NAME
    assert await _run(directory) == "stopped"
    assert query(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'") == [(3,)]
    assert query(db, "SELECT COUNT(*) FROM trials") == [(3,)], "nothing started past the budget"
    events = query(
        db,
        "SELECT json_extract(data_json, '$.scope'), json_extract(data_json, '$.reason') "
        "FROM events WHERE kind = 'budget_reached'",
    )
    assert events == [("session", "budget reached: the session spent $3.3000 of $2.5")]
    assert query(db, "SELECT status FROM session") == [("stopped",)]
    # the same config resumes into the same budget: nothing more runs
    assert await _run(directory, file) == "stopped"
    assert query(db, "SELECT COUNT(*) FROM trials") == [(3,)]
    # a raised budget in the file is taken without --force (no trial changes) and recorded
    _config(file, session="max_cost_usd = 100")
    assert await _run(directory, file) == "finished"
    assert query(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'") == [(6,)]
    changed = query(
        db,
        "SELECT json_extract(data_json, '$.before.session.max_cost_usd'), "
        "json_extract(data_json, '$.after.session.max_cost_usd') FROM events "
        "WHERE kind = 'budget_changed'",
    )
    assert changed == [(2.5, 100.0)]
    reader = SessionReader(db)
    try:
        total = session_spend(reader)[-1]
    finally:
        reader.close()
    assert (total.calls, total.tokens) == (6, 6 * (PROMPT + COMPLETION))
    assert total.cost_usd == pytest.approx(6 * 1.1) and total.reason == ""


async def test_a_backbone_token_budget_stops_only_that_backbone(tmp_path: Path) -> None:
    backbones = 'name = "x"\nmax_total_tokens = 2000\n\n[[backbones]]\nname = "y"\nprofile = "weak"'
    file = _config(tmp_path / "s.toml", backbones=backbones)
    directory = create_session(load_config(file), tmp_path / "sessions", file)
    db = directory / DB_NAME
    assert await _run(directory) == "stopped"
    done = dict(query(db, "SELECT backbone, COUNT(*) FROM trials GROUP BY 1"))
    assert done == {"x": 2, "y": 6}
    scopes = query(
        db, "SELECT json_extract(data_json, '$.scope') FROM events WHERE kind = 'budget_reached'"
    )
    assert scopes == [("x",)]


def test_budget_keys_are_validated_and_do_not_change_the_digest(tmp_path: Path) -> None:
    a = load_config(_config(tmp_path / "a.toml"))
    b = load_config(_config(tmp_path / "b.toml", session="max_cost_usd = 5\nmax_tokens = 10"))
    assert a.digest() == b.digest()
    with pytest.raises(UserError, match=r"session.max_cost_usd: must be >= 0"):
        load_config(_config(tmp_path / "c.toml", session="max_cost_usd = -1"))
    with pytest.raises(UserError, match=r"max_total_tokens: must be int"):
        load_config(_config(tmp_path / "d.toml", backbones='name = "x"\nmax_total_tokens = 1.5'))


PLAN = '\n[analysis]\nreference = "ref"\ncontrasts = ["A"]\nalpha = 0.05\nmargin = 0.1'


async def test_the_plan_is_frozen_a_changed_one_is_refused_or_recorded_as_a_deviation(
    tmp_path: Path,
) -> None:
    from engine.stats.analysis import session_verdicts

    file = _config(tmp_path / "s.toml", analysis=PLAN)
    directory = create_session(load_config(file), tmp_path / "sessions", file)
    assert await _run(directory) == "finished"
    _config(file, analysis=PLAN.replace("margin = 0.1", "margin = 0.3"))
    with pytest.raises(UserError, match=r"\[analysis\] plan .* differs from the one frozen"):
        config_for_resume(directory, False, file)
    assert await _run(directory, file, force=True) == "finished"
    reader = SessionReader(directory / DB_NAME)
    try:
        report = session_verdicts(reader)
    finally:
        reader.close()
    assert report.plan is not None and report.plan.margin == 0.1, "the frozen plan is kept"
    assert [(d["frozen"]["margin"], d["now"]["margin"]) for d in report.deviations] == [(0.1, 0.3)]
    # by hand: A succeeds on seeds 0 and 2, the reference on seed 0: b = 1 (seed 2), c = 0
    (v,) = report.verdicts
    assert (v.condition, v.n_pairs, v.b, v.c, v.verdict) == ("A", 3, 1, 0, "not shown")
    assert "NOT SHOWN" in v.words and "not evidence that they are equal" in v.words


@pytest.mark.slow
def test_a_real_sweep_stops_at_its_token_budget_and_resumes_with_a_raised_one(
    tmp_path: Path,
) -> None:
    """End to end with the synthetic coder (it reports token counts): run, stop, resume."""
    file = _config(
        tmp_path / "s.toml",
        session="max_tokens = 1",
        backbones='name = "syn"\nprofile = "strong"',
    )
    file.write_text(
        file.read_text().replace("trials_per_condition = 3", "trials_per_condition = 1")
    )
    sessions = tmp_path / "sessions"
    proc = autocapx("run", str(file), sessions=sessions)
    proc.communicate(timeout=300)
    assert proc.returncode == 3, "stopped at the budget: resume continues it"
    (db,) = sessions.glob("*/session.db")
    assert query(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'") == [(1,)]
    assert query(db, "SELECT COUNT(*) FROM events WHERE kind = 'budget_reached'") == [(1,)]
    file.write_text(file.read_text().replace("max_tokens = 1", "max_tokens = 10000000"))
    proc = autocapx("resume", db.parent.name, sessions=sessions)
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert query(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'") == [(2,)]
