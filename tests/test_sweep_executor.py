"""Executors without a cluster: lost workers are re-run (up to a cap), choices are validated
and remembered, and a cluster that is not there is a one-line error before any session exists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.session import executor_choice
from engine.config import load_config
from engine.errors import UserError
from engine.executors import ExecutorChoice, WorkerLost
from engine.executors.local import LocalExecutor
from engine.llm.ratelimit import RequestPacer
from engine.store.sessions import DB_NAME
from engine.store.writer import SessionWriter
from engine.sweep.plan import plan_trials
from engine.sweep.runner import MAX_WORKER_LOSSES, SweepRunner
from engine.sweep.session import (
    config_for_resume,
    create_session,
    remember_executor,
    stored_config,
)
from engine.trial.loop import LibrarySnapshot
from tests.openai_server import Behaviour, ServerThread
from tests.sweep_helpers import query, write_config


class LosesWorkers(LocalExecutor):
    """Kills the worker of the first ``losses`` attempts of every trial, then runs it locally."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses
        self.attempts: dict[str, int] = {}

    async def run(self, spec, backbone, *, sink, on_block, on_placed):
        n = self.attempts[spec.trial_id] = self.attempts.get(spec.trial_id, 0) + 1
        on_placed({"host": "fake", "pid": 1000 + n, "node": "n1"})
        if n <= self.losses:
            raise WorkerLost(f"attempt {n} killed")
        return await super().run(spec, backbone, sink=sink, on_block=on_block, on_placed=on_placed)


async def _run(tmp_path: Path, executor: LocalExecutor, n: int = 1) -> tuple[str, Path]:
    config = load_config(write_config(tmp_path / "s.toml", n=n, concurrency=2))
    directory = create_session(config, tmp_path / "sessions")
    writer = SessionWriter(directory / DB_NAME)
    writer.attach()
    try:
        runner = SweepRunner(config, writer, lambda _: LibrarySnapshot(), executor=executor)
        status = await runner.run(plan_trials(config))
    finally:
        writer.close()
    return status, directory / DB_NAME


async def test_a_lost_worker_abandons_the_run_and_the_trial_runs_again(tmp_path: Path) -> None:
    status, db = await _run(tmp_path, LosesWorkers(losses=1))
    assert status == "finished"
    runs = query(db, "SELECT trial_key, attempt, status, error FROM trials ORDER BY run_id")
    keys = sorted({r[0] for r in runs})
    assert len(keys) == 2
    for key in keys:
        mine = [r[1:] for r in runs if r[0] == key]
        assert mine == [(1, "abandoned", "worker lost: attempt 1 killed"), (2, "done", None)]
    lost = query(
        db,
        "SELECT trial_key, json_extract(data_json, '$.attempt') FROM events "
        "WHERE kind = 'worker_lost'",
    )
    assert sorted(lost) == [(k, 1) for k in keys]
    placed = query(db, "SELECT COUNT(*) FROM events WHERE kind = 'trial_placed'")
    assert placed == [(4,)], "every attempt says where it ran"


async def test_a_trial_whose_worker_keeps_dying_is_an_infrastructure_failure(
    tmp_path: Path,
) -> None:
    status, db = await _run(tmp_path, LosesWorkers(losses=99))
    assert status == "incomplete", "not finished: resume runs these trials again"
    counts = query(
        db, "SELECT trial_key, COUNT(*), SUM(status = 'abandoned') FROM trials GROUP BY 1"
    )
    assert [c[1:] for c in counts] == [(MAX_WORKER_LOSSES + 1, MAX_WORKER_LOSSES + 1)] * 2
    assert query(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'") == [(0,)]


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"executor": None, "address": None, "cpus_per_trial": None, **kw})


def test_executor_flags_are_validated_and_a_resume_keeps_what_it_is_not_told() -> None:
    assert executor_choice(_args()) == ExecutorChoice()
    with pytest.raises(UserError, match="only apply with --executor ray"):
        executor_choice(_args(address="10.0.0.1:6379"))
    with pytest.raises(UserError, match="--cpus-per-trial must be above 0"):
        executor_choice(_args(executor="ray", cpus_per_trial=0.0))
    stored = ExecutorChoice("ray", "10.0.0.1:6379", 0.5)
    assert executor_choice(_args(), stored) == stored
    assert executor_choice(_args(cpus_per_trial=0.25), stored) == ExecutorChoice(
        "ray", "10.0.0.1:6379", 0.25
    )
    assert executor_choice(_args(executor="local"), stored) == ExecutorChoice()


def test_the_executor_is_stored_remembered_and_survives_a_forced_config_change(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path / "s.toml", n=1)
    choice = ExecutorChoice("ray", "10.0.0.1:6379", 0.5)
    directory = create_session(load_config(path), tmp_path / "sessions", path, executor=choice)
    assert stored_config(directory)[1]["executor"] == choice
    remember_executor(directory, ExecutorChoice("ray", "10.0.0.2:6379"))
    path.write_text(
        path.read_text().replace("trials_per_condition = 1", "trials_per_condition = 2")
    )
    config_for_resume(directory, force=True)
    info = stored_config(directory)[1]
    assert info["executor"] == ExecutorChoice("ray", "10.0.0.2:6379")
    assert info["rounds"] == 1 and stored_config(directory)[0].session.trials_per_condition == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--executor", "ray", "--address", "127.0.0.1:9"],
            "no Ray cluster answers at 127.0.0.1:9",
        ),
        (["--executor", "ray", "--address", "ray://10.0.0.1:10001"], "Ray Client addresses"),
        (["--address", "127.0.0.1:9"], "only apply with --executor ray"),
    ],
)
def test_a_cluster_that_cannot_work_is_one_line_before_any_session(
    tmp_path: Path, capsys, flags: list[str], message: str
) -> None:
    config = write_config(tmp_path / "s.toml", n=1)
    sessions = tmp_path / "sessions"
    code = main(["run", str(config), *flags, "--sessions-dir", str(sessions)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not list(sessions.glob("*/session.db")), "nothing was created"


def test_the_pacer_spaces_request_starts_per_key() -> None:
    now = [100.0]
    pacer = RequestPacer(clock=lambda: now[0])
    assert pacer.acquire("a", 60) == 0.0, "the first request starts at once"
    assert pacer.acquire("a", 60) == 1.0, "the next one is told to wait an interval"
    assert pacer.acquire("b", 120) == 0.0, "each backbone has its own limit"
    now[0] = 100.25
    assert pacer.acquire("a", 60) == 0.75, (
        "nothing was reserved: the wait is still to the same time"
    )
    now[0] = 101.0
    assert pacer.acquire("a", 60) == 0.0 and pacer.acquire("a", 60) == 1.0
    now[0] = 110.0  # idle for a while: no debt, no burst credit either
    assert pacer.acquire("a", 60) == 0.0 and pacer.acquire("a", 60) == 1.0


CODE_REPLY = "```python\nprint('hello from the test server')\n```"


def paced_sweep_config(path: Path, url: str, rpm: float) -> Path:
    """4 trials of 2 blocks each (code, then a forced REGENERATE) against the server at ``url``."""
    return write_config(
        path,
        n=2,
        concurrency=4,
        name="paced",
        session_extra="max_regenerations = 1",
        backbone=f"""name = "local-llm"
backend = "openai"
model = "test-model"
base_url = "{url}"
api_key_env = "AUTOCAPX_TEST_KEY"
max_retries = 0
requests_per_minute = {rpm}""",
    )


def assert_paced(server, rpm: float) -> None:
    """Request arrivals keep the limit. Starts are granted ``60/rpm`` apart at send time, so
    any window of two intervals holds at most 2 grants; one more arrival is allowed for the
    moments between a grant and the request reaching the server (connection set-up on an event
    loop busy starting a trial can delay one request and not the next)."""
    times = sorted(r.at for r in server.requests)
    interval = 60.0 / rpm
    most = max(sum(1 for t in times if a <= t < a + 2 * interval) for a in times)
    assert most <= 3, f"{most} requests within {2 * interval:.2f} s at {rpm} RPM: {times}"
    span = times[-1] - times[0]
    assert span >= 0.8 * (len(times) - 1) * interval, f"faster than {rpm} RPM: {times}"


def test_a_backbone_rate_limit_spaces_requests_across_concurrent_trials(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("AUTOCAPX_TEST_KEY", "sk-test")
    with ServerThread() as server:
        server.api_key = "sk-test"
        server.default = Behaviour.reply(CODE_REPLY)
        config = paced_sweep_config(tmp_path / "s.toml", server.url, rpm=120)
        assert main(["run", str(config), "--quiet", "--sessions-dir", str(tmp_path / "s")]) == 0
    assert len(server.requests) == 8, "4 trials x 2 blocks, all answered"
    assert_paced(server, rpm=120)


def test_sessions_lists_where_a_session_runs(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path / "s.toml", n=1)
    sessions = tmp_path / "sessions"
    create_session(load_config(path), sessions, path, executor=ExecutorChoice("ray"))
    create_session(load_config(path), sessions, path)
    assert main(["sessions", "--json", "--sessions-dir", str(sessions)]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["executor"] for r in listed) == ["local", "ray"]
    assert main(["sessions", "--sessions-dir", str(sessions)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.endswith("synthetic on ray") for line in lines) == 1
