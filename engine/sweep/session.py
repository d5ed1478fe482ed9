"""Starting, running and resuming a session: directory, lock, config snapshot, runner.

A session is ``sessions/<id>/``: ``session.db`` (the single source of truth), ``config.toml``
(the config it was started with) and ``runner.log`` when detached. Only one runner may hold a
session at a time (an advisory lock), and ``run`` never reuses an existing directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from engine import __version__
from engine.config import SweepConfig, load_config, parse_config
from engine.errors import UserError
from engine.events import ExecutorReady, RunsAbandoned
from engine.executors import ExecutorChoice
from engine.store.reader import SessionReader
from engine.store.sessions import DB_NAME, new_session_id, session_dir
from engine.store.writer import SessionWriter

LOCK_NAME = "runner.lock"


def code_version() -> str:
    """autocapx version plus the git commit when running from a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


@contextlib.contextmanager
def runner_lock(directory: Path) -> Iterator[None]:
    """Hold the session's runner lock, or fail with who holds it."""
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(
            f"cannot take the runner lock of session {directory.name} ({path}): "
            f"{exc.strerror or exc}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise UserError(
                f"session {directory.name} is already being run (pid {holder}); "
                "watch it with `autocapx attach` instead"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def create_session(
    config: SweepConfig,
    root: Path,
    config_path: Path | None = None,
    rounds: int = 1,
    executor: ExecutorChoice | None = None,
) -> Path:
    """A new session directory and database for ``config``; returns the directory.

    The simulator's model files are checked first: an incomplete installation is one line,
    not a session whose every trial fails."""
    from engine.sim.assets import check_assets

    check_assets()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            directory = session_dir(root, new_session_id(config.session.name))
            try:
                directory.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise UserError(f"could not create a new session directory under {root}")
        (directory / "config.toml").write_text(config.source)
    except OSError as exc:
        raise UserError(f"cannot create a session under {root}: {exc.strerror or exc}") from None
    writer = SessionWriter(directory / DB_NAME)
    try:
        snapshot = config.to_dict()
        snapshot["_source"] = config.source
        snapshot["_path"] = str(config_path.resolve()) if config_path else ""
        snapshot["_rounds"] = rounds
        snapshot["_executor"] = asdict(executor or ExecutorChoice())
        snapshot["_plan"] = snapshot.get("analysis")  # frozen: survives a forced config change
        writer.create_session(
            directory.name,
            task=config.session.task,
            config=snapshot,
            config_hash=config.digest(),
            code_version=code_version(),
            synthetic=config.synthetic_only,
            total_trials=config.total_trials * rounds,
        )
    finally:
        writer.close()
    return directory


def stored_config(directory: Path) -> tuple[SweepConfig, dict]:
    """The config snapshot a session was started with, and the session row."""
    reader = SessionReader(directory / DB_NAME, check=True)
    try:
        row = reader.session()
    finally:
        reader.close()
    snapshot = row["config"]
    where = f"{directory.name}/config.toml"
    config = parse_config(snapshot["_source"], where, stored=snapshot)
    _same_settings(directory.name, snapshot, config)
    return config, {
        "config_hash": row["config_hash"],
        "status": row["status"],
        "path": snapshot.get("_path", ""),
        "rounds": int(snapshot.get("_rounds", 1)),
        "executor": ExecutorChoice.from_dict(snapshot.get("_executor")),
        "plan": snapshot.get("_plan", snapshot.get("analysis")),
    }


def _same_settings(name: str, snapshot: dict, config: SweepConfig) -> None:
    """Refuse a session whose settings this autocapx would read differently (a default that
    changed since it started): its remaining trials would not be comparable with its first."""
    now = config.to_dict()
    for section in ("session", "skills"):
        stored = snapshot.get(section) or {}
        for key, value in (now.get(section) or {}).items():
            if key in stored and stored[key] != value:
                raise UserError(
                    f"session {name} was started with {section}.{key} = {stored[key]!r}, which "
                    f"this autocapx reads as {value!r}: its remaining trials would differ from "
                    "its first; start a new session (or finish it with the autocapx that began it)"
                )
    if "prompt_set" not in snapshot:
        raise UserError(
            f"session {name} was started by an earlier autocapx with other prompts (they showed "
            "the LLM the simulator's state); its remaining trials would not be comparable: "
            "start a new session"
        )


def config_for_resume(directory: Path, force: bool, new_path: Path | None = None) -> SweepConfig:
    """The stored config, unless the config file changed: then refuse, or with ``force`` use it."""
    config, info = stored_config(directory)
    candidate = new_path or (Path(info["path"]) if info["path"] else None)
    if candidate is None or not candidate.is_file():
        return config
    current = load_config(candidate)
    changed = current.digest() != info["config_hash"]
    if changed and not force:
        raise UserError(
            f"the config {candidate} changed since session {directory.name} started; "
            "resume with --force to use the changed config, or restore the file"
        )
    frozen, plan = info["plan"], current.to_dict().get("analysis")
    if plan != frozen and not force:
        raise UserError(
            f"the [analysis] plan in {candidate} differs from the one frozen when session "
            f"{directory.name} started; restore it, or resume with --force to record the "
            "change as a deviation (the report keeps the frozen plan's verdicts)"
        )
    budget_then, budget_now = _budgets(config), _budgets(current)
    if not changed and plan == frozen and budget_then == budget_now:
        return config
    from engine.events import BudgetChanged, PlanDeviation

    with runner_lock(directory):  # nothing is written to a session a runner holds
        writer = SessionWriter(directory / DB_NAME, create=False)
        try:
            old = writer.reader.session()["config"]
            snapshot = current.to_dict()
            snapshot.update({k: v for k, v in old.items() if k.startswith("_")})  # rounds, executor
            snapshot["_source"], snapshot["_path"] = current.source, str(candidate.resolve())
            writer.replace_config(snapshot, current.digest(), current.total_trials)
            if plan != frozen:
                writer.event(PlanDeviation(frozen=frozen or {}, now=plan or {}))
            if budget_then != budget_now:
                writer.event(BudgetChanged(before=budget_then, after=budget_now))
            writer.flush()
        finally:
            writer.close()
    return current


def _budgets(config: SweepConfig) -> dict:
    """The budget keys of a config (they change no trial: a resume takes them from the file)."""
    s = config.session
    out = {"session": {"max_cost_usd": s.max_cost_usd, "max_tokens": s.max_tokens}}
    for b in config.backbones:
        out[b.name] = {"max_cost_usd": b.max_cost_usd, "max_total_tokens": b.max_total_tokens}
    return out


def migrate_session(directory: Path) -> tuple[int, int]:
    """Bring a session's database to this autocapx's schema, under the runner lock.

    Viewers never migrate (a read command never writes); this is the one explicit step that
    does, and it only adds tables and columns. Returns (version before, version after)."""
    from engine.store.db import upgrade

    with runner_lock(directory):
        return upgrade(directory / DB_NAME)


def accept_history_loss(directory: Path) -> tuple[int, int] | None:
    """Take a database that lost commits as the session's history from now on (resume
    --accept-loss): the loss is recorded as an event, the lost trials run again.
    Returns (done trials lost, events lost), or None if nothing was lost."""
    from engine.events import HistoryLost
    from engine.store import history

    db = directory / DB_NAME
    then = history.recorded(db)
    with runner_lock(directory):
        writer = SessionWriter(db, create=False, accept_lost_history=True)
        try:
            now = writer.extent
            if then is None or now.covers(then):
                return None
            writer.event(HistoryLost(then.seq, then.done, now.seq, now.done))
            writer.flush()
        finally:
            writer.close()
    return then.done - now.done, then.seq - now.seq


def lock_is_free(directory: Path) -> bool:
    """True if no runner holds the session (so a 'running' status means it was interrupted)."""
    path = directory / LOCK_NAME
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def remember_executor(directory: Path, executor: ExecutorChoice) -> None:
    """Store the executor a resume chose, so a later (detached) resume uses it too."""
    with runner_lock(directory):
        writer = SessionWriter(directory / DB_NAME, create=False)
        try:
            writer.update_config_snapshot(_executor=asdict(executor))
        finally:
            writer.close()


async def execute_session(
    directory: Path,
    config: SweepConfig,
    *,
    quiet: bool = False,
    round_: int = 0,
    executor: ExecutorChoice | None = None,
) -> str:
    """Run (or resume) a session (one round of it) under the runner lock; returns the final status.

    ``executor`` says where trials run (default: the one stored with the session)."""
    import asyncio
    import signal

    from engine.skills.manager import SkillManager
    from engine.sweep.plan import plan_trials
    from engine.sweep.progress import HeadlessProgress
    from engine.sweep.runner import SweepRunner

    if executor is None:
        executor = stored_config(directory)[1]["executor"]
    with runner_lock(directory):
        writer = SessionWriter(directory / DB_NAME, create=False)
        try:
            writer.attach()
            abandoned = writer.abandon_running()
            if abandoned:
                writer.event(RunsAbandoned(trial_keys=abandoned))
            plans = plan_trials(config, round_)
            manager = SkillManager(config, writer, sessions_root=directory.parent)
            manager.round = round_
            done_keys = writer.done_keys()
            first = next((p for p in plans if p.key not in done_keys), None)
            own_pool = config.skills.pool == "self"
            manager.refresh(manager.bound_for(first.index if first else 0) if own_pool else None)
            if any(c.ablate for c in config.conditions):  # arms generated from the library
                from engine.skills.ablations import expand_for_round

                config = expand_for_round(manager, config, writer, round_)
                plans = plan_trials(config, round_)
            done = len(done_keys & {p.key for p in plans})
            progress = HeadlessProgress(len(plans), done, quiet=quiet)
            writer.on_wait = progress.store_wait
            trials_on = executor.build(config.backbones, config.vdm)
            try:
                # Started before our signal handlers go in: Ray installs its own on init.
                writer.event(ExecutorReady.from_data(await trials_on.start()))
            except BaseException:
                await trials_on.close()
                raise
            runner = SweepRunner(
                config,
                writer,
                manager.library_for,
                on_progress=progress,
                skill_commands=manager.handle,
                executor=trials_on,
                remine_every=manager.remine_every,
                remine=manager.refresh,
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, runner.stop)
            try:
                status = await runner.run(plans)
            finally:
                await trials_on.close()
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.remove_signal_handler(sig)
            progress.close(status, runner.state.stop_reason)
            if not quiet:
                from engine.invocation import command_prefix
                from engine.stats.ending import ending_lines
                from engine.store.sessions import sessions_root

                prefix, root = command_prefix(), sessions_root(None)
                for line in ending_lines(writer.reader, directory, status, prefix, root):
                    print(line, flush=True)
            return status
        finally:
            writer.close()
