"""The sweep runner: a queue of trials over conditions and backbones, run with asyncio.

Concurrency is bounded globally and per backbone. Each trial is written as it goes (a run row,
then each block as it ends) and committed as done atomically when it ends. Commands from
viewers are polled from the store: ``pause`` stops launching trials, ``resume`` continues,
``stop`` cancels the running trials (their runs are marked abandoned and re-run on resume);
``approve``/``veto`` go to the skill library's handler.

Where a trial runs is the executor's business (this process, or a Ray cluster); the runner
stays the single writer. A trial whose worker died is abandoned and run again from its start,
up to ``MAX_WORKER_LOSSES`` times before it counts as an infrastructure failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.config import BackboneConfig, SweepConfig
from engine.errors import UserError
from engine.events import (
    ArmSettled,
    BudgetReached,
    CommandHandled,
    Event,
    SweepEnded,
    SweepHalted,
    TrialPlaced,
    WorkerLostEvent,
)
from engine.executors.base import TrialExecutor, WorkerLost
from engine.stats import analysis, budget
from engine.store.liveness import HEARTBEAT_S
from engine.store.writer import SessionWriter
from engine.sweep.plan import TrialPlan, trial_spec
from engine.trial.records import TrialRecord
from engine.trial.spec import LibrarySnapshot, TrialSpec

COMMAND_POLL_S = 0.25
MAX_CONSECUTIVE_ERRORS = 5
"""Infrastructure failures in a row (dead API, broken sandbox) after which the sweep stops."""
INFRA_END_REASONS = ("llm_error", "sandbox_error")
MAX_WORKER_LOSSES = 3
"""Times one trial is re-run in a sweep after the process running it died."""

LibraryProvider = Callable[[str], LibrarySnapshot]
CommandHandler = Callable[[dict], str]
ProgressCallback = Callable[[TrialPlan, TrialRecord | None, str], None]


@dataclass
class RunnerState:
    paused: bool = False
    stopping: bool = False
    running: int = 0
    completed: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    stop_reason: str = ""
    skipped: int = 0
    """Planned trials not started: their budget was spent (resume with a raised one runs them)."""
    fatal: Exception | None = None
    """What made the store unusable (locked too long, disk full): the sweep stops and says so."""


class SweepRunner:
    """Runs the given trial plans of a session and records them through a SessionWriter."""

    def __init__(
        self,
        config: SweepConfig,
        writer: SessionWriter,
        library_for: LibraryProvider,
        *,
        on_progress: ProgressCallback | None = None,
        skill_commands: CommandHandler | None = None,
        executor: TrialExecutor | None = None,
        remine_every: int = 0,
        remine: Callable[[int], object] | None = None,
    ) -> None:
        self.config = config
        self.writer = writer
        self.library_for = library_for
        self.on_progress = on_progress
        self.skill_commands = skill_commands
        self.remine_every = remine_every
        """Re-mine the library before the trial at every multiple of this plan index (0: never);
        ``remine(bound)`` mines from this round's trials planned before ``bound``."""
        self.remine = remine
        if executor is None:
            from engine.executors.local import LocalExecutor

            executor = LocalExecutor(config.vdm)
        self.executor: TrialExecutor = executor
        self.state = RunnerState()
        self._backbones = {b.name: b for b in config.backbones}
        self._global = asyncio.Semaphore(config.session.concurrency)
        self._per_backbone = {
            b.name: asyncio.Semaphore(b.concurrency or config.session.concurrency)
            for b in config.backbones
        }
        self._tasks: set[asyncio.Task] = set()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._init_budget_and_plan()

    # ------------------------------------------------ budget and the stopping rule
    def _init_budget_and_plan(self) -> None:
        """Spend so far (every recorded call, engine.stats.budget) and, for stop_when =
        "decided", the outcomes so far; both are kept up to date as trials run."""
        snapshot = self.config.to_dict()
        self._budget_config = {"session": snapshot["session"], "backbones": snapshot["backbones"]}
        session = snapshot["session"]
        self._budgeted = bool(session["max_cost_usd"] or session["max_tokens"]) or any(
            b["max_cost_usd"] or b["max_total_tokens"] for b in snapshot["backbones"]
        )
        reader = self.writer.reader
        self._tokens = (
            budget.tokens_by_backbone(reader.llm_calls(), reader.trials()) if self._budgeted else {}
        )
        self._told: set[str] = set()
        plan = self.config.analysis
        self._plan = (
            analysis.AnalysisPlan.from_dict(snapshot["analysis"])
            if plan is not None and plan.stop_when == "decided"
            else None
        )
        self._outcomes = (
            analysis.outcomes_from_rows(reader.trials(status="done")) if self._plan else []
        )
        self._settled: set[tuple[str, str, int]] = set()
        if self._plan:
            self._update_settled()

    def _count_block(self, backbone: str, block) -> None:  # noqa: ANN001 - a BlockRecord
        tally = self._tokens.setdefault(backbone, [0, 0, 0])
        tally[0] += 1
        tally[1] += block.prompt_tokens
        tally[2] += block.completion_tokens

    def _budget_reason(self, backbone: str) -> str:
        """Why a trial of ``backbone`` may not start (""), recording each reason once."""
        if not self._budgeted:
            return ""
        rows = budget.spend_rows(self._budget_config, self._tokens)
        reason = budget.stop_reason(rows, backbone)
        row = next((r for r in rows if reason and r.reason == reason), None)
        if row is not None and row.scope not in self._told:
            self._told.add(row.scope)
            self.writer.event(
                BudgetReached(
                    scope=row.scope,
                    reason=reason,
                    cost_usd=round(row.cost_usd, 6),
                    tokens=row.tokens,
                    max_cost_usd=row.max_cost_usd,
                    max_tokens=row.max_tokens,
                )
            )
            self.state.stop_reason = f"{reason} (raise it in the config file, then resume)"
        return reason

    def _update_settled(self) -> None:
        assert self._plan is not None
        names = [b.name for b in self.config.backbones]
        for round_ in sorted({o.round for o in self._outcomes}):
            for arm in analysis.settled_arms(self._outcomes, self._plan, names, round_):
                if arm not in self._settled:
                    self._settled.add(arm)
                    n = sum(1 for o in self._outcomes if (o.condition, o.backbone, o.round) == arm)
                    self.writer.event(
                        ArmSettled(condition=arm[0], backbone=arm[1], round=arm[2], n=n)
                    )

    def _skip(self, plan: TrialPlan) -> bool:
        """Does this trial not start: its budget is spent, or its arm is settled?"""
        if (plan.condition, plan.backbone, plan.round) in self._settled:
            return True
        if self._budget_reason(plan.backbone):
            self.state.skipped += 1
            return True
        return False

    # ---------------------------------------------------------------- commands
    def handle_command(self, command: dict) -> str:
        action = command["action"]
        if action == "pause":
            self.state.paused = True
            self._resumed.clear()
            self.writer.set_status("paused")
            return "paused"
        if action == "resume":
            self.state.paused = False
            self._resumed.set()
            self.writer.set_status("running")
            return "resumed"
        if action == "stop":
            self.stop()
            return "stopping"
        if action in ("approve", "veto"):
            if self.skill_commands is None:
                return "ignored: this session has no skill library"
            return self.skill_commands(command)
        return f"ignored: unknown action {action!r}"

    def stop(self) -> None:
        self.state.stopping = True
        self._resumed.set()
        for task in list(self._tasks):
            task.cancel()

    async def _poll_commands(self) -> None:
        """Apply viewers' commands, and beat: a viewer tells a live runner by its heartbeat."""
        last_beat = 0.0
        while True:
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                try:
                    self.writer.heartbeat()
                except UserError as exc:  # the store is unusable: the sweep stops, says why
                    self._store_failed(exc)
                    return
                last_beat = time.monotonic()
            for command in self.writer.pending_commands():
                result = self.handle_command(command)
                self.writer.consume_command(command["id"], result)
                self.writer.event(
                    CommandHandled(id=command["id"], action=command["action"], result=result)
                )
            self.writer.flush()
            await asyncio.sleep(COMMAND_POLL_S)

    # -------------------------------------------------------------------- trials
    async def _run_one(self, plan: TrialPlan) -> None:
        backbone = self._backbones[plan.backbone]
        for attempt in range(MAX_WORKER_LOSSES + 1):
            library = self.library_for(plan.condition)
            run_id = self.writer.begin_run(
                trial_key=plan.key,
                trial_index=plan.index,
                condition=plan.condition,
                backbone=plan.backbone,
                seed=plan.seed,
                backend=backbone.backend,
                model=backbone.model_label,
                synthetic=backbone.synthetic,
                library_version=library.version,
                round=plan.round,
            )
            spec = trial_spec(self.config, plan, library)
            try:
                record = await self._execute(plan, run_id, spec, backbone)
            except WorkerLost as exc:
                self.writer.abandon_run(run_id, f"worker lost: {exc}")
                self.writer.event(
                    WorkerLostEvent(reason=str(exc), attempt=attempt + 1), plan.key, run_id
                )
                if self.on_progress:
                    self.on_progress(plan, None, "lost")
                if self.state.stopping:
                    return
                continue
            except UserError:
                raise
            except Exception as exc:  # a bug, not the trial's doing: never silent, never counted
                reason = f"internal error: {type(exc).__name__}: {exc}"
                self.writer.abandon_run(run_id, reason)
                if self.on_progress:
                    lost = TrialRecord(plan.key, spec.world.task, plan.seed, "", "", False)
                    lost.error = reason
                    self.on_progress(plan, lost, "error")
                self._infra_failure(reason)
                return
            self._record(plan, run_id, record)
            return
        self._infra_failure(f"the worker running {plan.key} died {MAX_WORKER_LOSSES + 1} times")

    async def _execute(
        self,
        plan: TrialPlan,
        run_id: int,
        spec: TrialSpec,
        backbone: BackboneConfig,
    ) -> TrialRecord:
        def sink(event: Event) -> None:
            try:
                self.writer.event(event, plan.key, run_id)
            except UserError as exc:  # the store refuses writes (disk full): stop, say why once
                self._store_failed(exc)

        def placed(where: dict) -> None:
            sink(TrialPlaced.from_data(where))

        if self.on_progress:
            self.on_progress(plan, None, "started")
        try:
            return await self.executor.run(
                spec,
                backbone,
                sink=sink,
                on_block=lambda block: self._on_block(run_id, plan, block),
                on_placed=placed,
            )
        except asyncio.CancelledError:
            self.writer.abandon_run(run_id, "stopped before it finished")
            if self.on_progress:
                self.on_progress(plan, None, "abandoned")
            raise

    def _on_block(self, run_id: int, plan: TrialPlan, block) -> None:  # noqa: ANN001
        if self._budgeted:
            self._count_block(plan.backbone, block)
        self.writer.add_block(run_id, plan.key, block)

    def _record(self, plan: TrialPlan, run_id: int, record: TrialRecord) -> None:
        if record.end_reason in INFRA_END_REASONS:
            self.writer.fail_run(run_id, record)
            if self.on_progress:
                self.on_progress(plan, record, "error")
            self._infra_failure(record.error)
            return
        self.state.consecutive_errors = 0
        self.writer.finish_run(run_id, record)
        self.state.completed += 1
        if self._plan is not None:
            self._outcomes.append(
                analysis.Outcome(
                    plan.condition, plan.backbone, plan.round, plan.seed, record.final_success
                )
            )
            self._update_settled()
        if self.on_progress:
            self.on_progress(plan, record, "done")

    def _store_failed(self, exc: UserError) -> None:
        """Nothing more can be recorded: stop the sweep; :meth:`run` raises the first error."""
        if self.state.fatal is None:
            self.state.fatal = exc
        self.stop()

    def _infra_failure(self, error: str) -> None:
        """Count a trial lost to infrastructure; halt the sweep after several in a row."""
        self.state.errors += 1
        self.state.consecutive_errors += 1
        if self.state.consecutive_errors >= MAX_CONSECUTIVE_ERRORS and not self.state.stopping:
            self.state.stop_reason = (
                f"{MAX_CONSECUTIVE_ERRORS} trials in a row failed for reasons outside the "
                f"trial; the last: {error}"
            )
            self.writer.event(SweepHalted(reason=self.state.stop_reason))
            self.stop()

    async def _guarded(self, plan: TrialPlan) -> None:
        try:
            async with self._per_backbone[plan.backbone]:
                if self._skip(plan):  # the budget or the verdict settled while it waited
                    return
                await self._run_one(plan)
        except UserError as exc:  # the store could not be written: nothing more can be kept
            self._store_failed(exc)
        finally:
            self.state.running -= 1
            self._global.release()

    async def run(self, plans: list[TrialPlan]) -> str:
        """Run the plans not yet done; returns the final status (finished or stopped).

        The executor must have been started; whoever started it closes it."""
        done = self.writer.done_keys()
        todo = [p for p in plans if p.key not in done]
        self.writer.set_status("running")
        poller = asyncio.create_task(self._poll_commands())
        t0 = time.monotonic()
        epoch = todo[0].index // self.remine_every if todo and self.remine_every else None
        try:
            for plan in todo:
                await self._resumed.wait()
                if self.state.stopping:
                    break
                if self.remine_every and plan.index // self.remine_every != epoch:
                    # A planned re-mine: every trial planned before this point must have ended
                    # (they are all that is in flight), so the pool is the same at any
                    # concurrency and on any executor.
                    while self._tasks:
                        await asyncio.gather(*list(self._tasks), return_exceptions=True)
                    if self.state.stopping:
                        break
                    epoch = plan.index // self.remine_every
                    if self.remine is not None:
                        self.remine(epoch * self.remine_every)
                await self._global.acquire()
                if self.state.stopping:
                    self._global.release()
                    break
                if self._skip(plan):
                    self._global.release()
                    continue
                await self._resumed.wait()
                self.state.running += 1
                task = asyncio.create_task(self._guarded(plan))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            for command in self.writer.pending_commands():  # answer what came in at the end
                self.writer.consume_command(command["id"], self.handle_command(command))
        if self.state.fatal is not None:
            with contextlib.suppress(Exception):  # the store may refuse this too
                self.writer.set_status("stopped")
            raise self.state.fatal
        if self.state.stopping or self.state.skipped:
            status = "stopped"  # by a person, a halt, or the budget: resume continues
        elif self.state.errors:
            status = "incomplete"  # errored trials run again on resume
        else:
            status = "finished"
        self.writer.set_status(status)
        self.writer.event(SweepEnded(status=status, wall_s=round(time.monotonic() - t0, 2)))
        self.writer.flush()
        return status
