"""The multi-turn trial loop: ask the LLM, run its code in the sandbox, feed back, repeat.

Up to ``max_regenerations`` REGENERATE turns after the initial block (11 blocks in all by
default). Only FINISH, the turn limit or the episode step cap end a trial; success is judged on
the final executed block. Everything the trial does is emitted as events and kept in a
:class:`~engine.trial.records.TrialRecord`; nothing the generated code does can stop the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.llm.base import Backend, LLMError, LLMReply, TextDelta
from engine.sandbox.worker import SandboxError
from engine.trial import events as ev
from engine.trial.executor import BlockOutcome, SandboxExecutor
from engine.trial.feedback import scene_diff
from engine.trial.prompts import (
    PromptTemplates,
    extract_code,
    follow_up_prompt,
    initial_prompt,
    messages,
    parse_decision,
)
from engine.trial.records import BlockRecord, Price, TrialRecord


@dataclass
class LibrarySnapshot:
    """What a trial gets from the skill library: prompt docs, code to seed, a version id."""

    version: str = ""
    docs: str = ""
    source: str = ""
    seeding: str = "namespace"
    """"namespace": ``source`` executed into the trial namespace together; "isolated": each of
    ``parts`` executed on its own and only its functions injected."""
    parts: tuple[str, ...] = ()
    skills: tuple[tuple[str, str], ...] = ()
    """(skill id, name) of each skill, for usage analytics."""


@dataclass
class TrialSpec:
    """Everything that determines one trial (with the backend's own sampling settings)."""

    trial_id: str
    task: str = "cube_lift"
    seed: int = 0
    condition: str = "P21_a"
    library: LibrarySnapshot = field(default_factory=LibrarySnapshot)
    max_regenerations: int = 10
    block_timeout_s: float = 180.0
    camera_size: int = 256
    quality: str = "full"
    noise: dict = field(default_factory=dict)
    feedback: str = "text"
    """"text": stdout/stderr + scene diff; "vision": before/after frames to the coder itself;
    "vdm": frames to a separate visual-difference model that describes the change."""
    templates: PromptTemplates = field(default_factory=PromptTemplates)
    price: Price = field(default_factory=Price)


async def _ask(
    backend: Backend,
    msgs: list[dict],
    sink: ev.EventSink,
    trial_id: str,
    block: int,
    images: list[bytes] | None = None,
) -> LLMReply:
    coalescer = ev.DeltaCoalescer(sink, trial_id, block)
    reply: LLMReply | None = None
    async for item in backend.stream(msgs, images=images):
        if isinstance(item, TextDelta):
            if getattr(item, "restart", False):  # the stream broke and is being re-asked
                coalescer.flush()
                sink(
                    ev.TrialEvent(
                        ev.LLM_DELTA, trial_id, {"block": block, "text": "", "restart": True}
                    )
                )
                continue
            coalescer.add(item.text)
        else:
            reply = item
    coalescer.flush()
    if reply is None:
        raise LLMError(f"{backend.name} ended its stream without a final reply")
    for retry in reply.retries:
        sink(ev.TrialEvent(ev.LLM_RETRY, trial_id, {"block": block, **_retry_dict(retry)}))
    return reply


def _retry_dict(retry: object) -> dict:
    from dataclasses import asdict, is_dataclass

    return asdict(retry) if is_dataclass(retry) else dict(vars(retry))


async def _describe_change(
    vdm: Backend, spec: TrialSpec, goal: str, before: bytes, after: bytes
) -> str:
    msgs = [{"role": "user", "content": spec.templates.visual_diff.format(goal=goal)}]
    text = ""
    async for item in vdm.stream(msgs, images=[before, after]):
        if isinstance(item, LLMReply):
            text = item.text
    return text.strip()


async def run_trial(
    spec: TrialSpec,
    backend: Backend,
    *,
    sink: ev.EventSink = ev.discard,
    vdm: Backend | None = None,
    executor: SandboxExecutor | None = None,
    on_block: Callable[[BlockRecord], None] | None = None,
) -> TrialRecord:
    """Run one trial to its end and return its record (never raises for what the LLM or code does)."""
    from engine.sim.tasks import get_task

    task = get_task(spec.task)
    record = TrialRecord(
        trial_id=spec.trial_id,
        task=spec.task,
        seed=spec.seed,
        backend=backend.name,
        model=backend.model,
        synthetic=backend.synthetic,
        condition=spec.condition,
        library_version=spec.library.version,
    )
    t_trial = time.perf_counter()
    sink(
        ev.TrialEvent(
            ev.TRIAL_STARTED,
            spec.trial_id,
            {
                "task": spec.task,
                "seed": spec.seed,
                "condition": spec.condition,
                "backend": backend.name,
                "model": backend.model,
                "synthetic": backend.synthetic,
                "library_version": spec.library.version,
            },
        )
    )
    from engine.api.docs import robot_api_docs

    docs = robot_api_docs()
    if spec.library.docs:
        docs += "\n\n" + spec.library.docs
    first = initial_prompt(task.goal, docs, spec.templates)
    executor = executor or SandboxExecutor(spec)
    want_frames = spec.feedback in ("vision", "vdm")
    # The worker (scene build, GL context, library seeding) starts while the LLM writes the
    # first block, so its start-up cost hides behind the model's latency.
    starting = asyncio.create_task(executor.start(library=spec.library, sink=sink))
    state: dict | None = None
    try:
        user, images = first, None
        code_so_far: list[str] = []
        max_blocks = spec.max_regenerations + 1
        index = 0
        while True:
            t_turn = time.perf_counter()
            try:
                reply = await _ask(
                    backend, messages(user, spec.templates), sink, spec.trial_id, index, images
                )
            except LLMError as exc:
                record.end_reason, record.error = "llm_error", str(exc)
                break
            decision = "initial" if index == 0 else parse_decision(reply.text)
            block = BlockRecord(
                index=index,
                decision=decision,
                prompt=user,
                reply=reply.text,
                reasoning=reply.reasoning,
                prompt_tokens=reply.prompt_tokens or 0,
                completion_tokens=reply.completion_tokens or 0,
                llm_latency_s=reply.latency_s,
                llm_retries=[_retry_dict(r) for r in reply.retries],
            )
            record.blocks.append(block)
            record.llm_time_s += reply.latency_s
            sink(ev.TrialEvent(ev.DECISION, spec.trial_id, {"block": index, "decision": decision}))
            if decision == "finish":
                block.wall_time_s = time.perf_counter() - t_turn
                record.end_reason = "finish"
                if on_block is not None:
                    on_block(block)
                break
            block.code = extract_code(reply.text)
            sink(ev.TrialEvent(ev.CODE_READY, spec.trial_id, {"block": index, "code": block.code}))
            if state is None:
                state = await starting
            sink(ev.TrialEvent(ev.EXEC_STARTED, spec.trial_id, {"block": index}))
            outcome = await executor.run(block.code, index, want_frames=want_frames)
            _fill_block(block, outcome, state, task.primary)
            record.exec_time_s += outcome.exec_time_s
            sink(
                ev.TrialEvent(
                    ev.EXEC_RESULT,
                    spec.trial_id,
                    {
                        "block": index,
                        "ok": block.ok,
                        "success": block.success,
                        "reward": block.reward,
                        "exception": block.exception,
                        "violation": block.violation,
                        "killed": block.killed,
                        "status": outcome.status,
                    },
                )
            )
            state = outcome.summary or state
            code_so_far.append(block.code)
            block.wall_time_s = time.perf_counter() - t_turn
            if on_block is not None:
                on_block(block)
            index += 1
            if index >= max_blocks:
                record.end_reason = "turn_limit"
                break
            if outcome.status.get("steps_left", 1) <= 0:
                record.end_reason = "episode_cap"
                break
            change, images = block.feedback, None
            if want_frames and outcome.frames:
                if spec.feedback == "vdm" and vdm is not None:
                    change = await _describe_change(vdm, spec, task.goal, *outcome.frames) or change
                else:
                    images = list(outcome.frames)
            user = follow_up_prompt(
                first,
                code_so_far,
                block.stdout,
                _stderr_for_llm(block),
                change,
                visual=spec.feedback == "vdm" and vdm is not None,
                templates=spec.templates,
            )
    except SandboxError as exc:
        record.end_reason, record.error = "sandbox_error", str(exc)
    except asyncio.CancelledError:
        record.end_reason = "cancelled"
        raise
    finally:
        if not starting.done():
            starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        await executor.close()
        _finish(record, spec, t_trial)
        if record.end_reason != "cancelled":
            sink(ev.TrialEvent(ev.TRIAL_FINISHED, spec.trial_id, record.summary()))
    return record


def _stderr_for_llm(block: BlockRecord) -> str:
    parts = [block.stderr.rstrip("\n")] if block.stderr.strip() else []
    for label, text in (("policy", block.violation), ("killed", block.killed)):
        if text and text not in block.stderr:
            parts.append(f"{label}: {text}")
    return "\n".join(parts)


def _fill_block(block: BlockRecord, outcome: BlockOutcome, before: dict, primary: str) -> None:
    block.executed = True
    block.ok = outcome.ok
    block.stdout = outcome.stdout
    block.stderr = outcome.stderr
    block.exception = outcome.exception
    block.violation = outcome.violation
    block.killed = outcome.killed
    block.exec_time_s = outcome.exec_time_s
    after = outcome.summary or before
    block.sim_summary = after
    block.success = bool(after.get("success"))
    block.reward = float(after.get("reward", 0.0))
    block.feedback = scene_diff(before, after, primary)
    if outcome.reset_note:
        block.feedback = outcome.reset_note + "\n" + block.feedback


def _finish(record: TrialRecord, spec: TrialSpec, t0: float) -> None:
    executed = record.executed_blocks
    if executed:
        final = executed[-1]
        record.final_success = final.success
        record.reward = final.reward
        record.code_ran_clean = final.ok
        record.any_success = any(b.success for b in executed)
    record.prompt_tokens = sum(b.prompt_tokens for b in record.blocks)
    record.completion_tokens = sum(b.completion_tokens for b in record.blocks)
    record.cost_usd = round(spec.price.cost(record.prompt_tokens, record.completion_tokens), 6)
    record.wall_time_s = round(time.perf_counter() - t0, 4)
