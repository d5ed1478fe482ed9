"""Reliability of the store and the runner: failed calls keep their retries, lock waits are
ridden out, the WAL is checkpointed and a lost one is noticed, stale commands expire."""

from __future__ import annotations

from pathlib import Path

from engine.config import load_config
from engine.events import LlmRetry
from engine.executors.local import LocalExecutor
from engine.store.reader import SessionReader
from engine.store.sessions import DB_NAME
from engine.store.writer import SessionWriter
from engine.sweep.plan import plan_trials
from engine.sweep.runner import SweepRunner
from engine.sweep.session import create_session
from engine.trial.spec import LibrarySnapshot
from tests.openai_server import Behaviour, ServerThread
from tests.sweep_helpers import write_config


async def _sweep(tmp_path: Path, config_path: Path) -> Path:
    config = load_config(config_path)
    directory = create_session(config, tmp_path / "sessions")
    writer = SessionWriter(directory / DB_NAME)
    writer.attach()
    try:
        runner = SweepRunner(
            config, writer, lambda _: LibrarySnapshot(), executor=LocalExecutor(config.vdm)
        )
        await runner.run(plan_trials(config)[:1])
    finally:
        writer.close()
    return directory / DB_NAME


async def test_a_call_that_fails_for_good_keeps_its_retries(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ServerThread() as server:
        server.default = Behaviour.error(503, message="overloaded")
        backbone = (
            f'name = "flaky"\nbackend = "openai"\nmodel = "m"\nbase_url = "{server.url}"\n'
            "max_retries = 2\ntimeout_s = 5"
        )
        db = await _sweep(tmp_path, write_config(tmp_path / "s.toml", n=1, backbone=backbone))
        sent = len(server.requests)
    reader = SessionReader(db)
    try:
        (trial,) = reader.trials()
        assert trial["status"] == "error" and trial["end_reason"] == "llm_error"
        (call,) = reader.llm_calls(trial["run_id"])
        assert call["error"] and "503" in call["error"] and call["error_kind"] == "http"
        assert [r["status"] for r in call["retries"]] == [503, 503]  # the two retries
        assert sent == 3  # the first attempt and two retries, as recorded
        retried = reader.events_since(0, kinds=(LlmRetry.kind,))
        assert [(s.event.block, s.event.status) for s in retried] == [(0, 503), (0, 503)]
    finally:
        reader.close()


def test_a_command_sent_to_a_dead_runner_expires_instead_of_stopping_the_resume(
    tmp_path: Path, capsys
) -> None:
    from engine.cli import main

    config = load_config(write_config(tmp_path / "s.toml", n=1))
    directory = create_session(config, tmp_path / "sessions")
    crashed = SessionWriter(directory / DB_NAME, create=False)
    crashed.attach()  # runner 1 starts ...
    crashed.set_status("running")
    crashed.close()  # ... and dies without a word
    viewer = SessionReader(directory / DB_NAME)
    stale = viewer.send_command("stop", who="console")  # sent while nobody runs the sweep
    viewer.close()
    code = main(["resume", directory.name, "--sessions-dir", str(tmp_path / "sessions")])
    assert code == 0, capsys.readouterr()
    reader = SessionReader(directory / DB_NAME)
    try:
        assert reader.session()["status"] == "finished"
        assert reader.progress()["done"] == 2
        command = reader.command(stale)
        assert command["result"].startswith("expired: sent to runner 1")
    finally:
        reader.close()


async def test_a_trial_that_breaks_the_engine_is_reported_not_lost(tmp_path: Path, capsys) -> None:
    class Broken(LocalExecutor):
        async def run(self, spec, backbone, *, sink, on_block, on_placed):
            raise TypeError("an engine bug")

    config = load_config(write_config(tmp_path / "s.toml", n=1))
    directory = create_session(config, tmp_path / "sessions")
    writer = SessionWriter(directory / DB_NAME, create=False)
    writer.attach()
    try:
        runner = SweepRunner(config, writer, lambda _: LibrarySnapshot(), executor=Broken())
        status = await runner.run(plan_trials(config))
    finally:
        writer.close()
    reader = SessionReader(directory / DB_NAME)
    try:
        rows = reader.trials()
    finally:
        reader.close()
    assert status == "incomplete", "not finished: resume runs these trials again"
    assert [r["status"] for r in rows] == ["abandoned", "abandoned"]
    assert all(r["error"] == "internal error: TypeError: an engine bug" for r in rows)
