"""The multi-turn trial loop: ask the LLM, run its code in the sandbox, feed back, repeat.

Up to ``max_regenerations`` REGENERATE turns after the initial block (11 blocks in all by
default). Only FINISH, the turn limit or the episode step cap end a trial; success is judged on
the final executed block. Everything the trial does is emitted as events and kept in a
:class:`~engine.trial.records.TrialRecord`; nothing the generated code does can stop the loop.

What the LLM is told after a block depends on the feedback mode, faithful to CaP-X by default:

| mode | the follow-up prompt carries |
|---|---|
| ``capx`` | the code executed so far, the block's stdout and stderr (CaP-X's channel) |
| ``vision`` | the same, plus camera images of the start and of now (for a vision-capable coder) |
| ``vdm`` | the same, plus a vision model's description of the change (CaP-X's VDM configs) |
| ``privileged`` | the same, plus the simulator's scene diff: PRIVILEGED ground truth, labelled |
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.events import (
    CodeReady,
    Decision,
    ExecFinished,
    ExecStarted,
    LlmDelta,
    LlmRetry,
    TrialFinished,
    TrialStarted,
)
from engine.llm.base import Backend, LLMError, LLMReply, TextDelta
from engine.sandbox.result import ExecResult
from engine.sandbox.worker import SandboxError
from engine.trial import events as ev
from engine.trial import prompts as p
from engine.trial.block_runner import BlockRunner
from engine.trial.feedback import scene_diff
from engine.trial.records import BlockRecord, FailedCall, TrialRecord
from engine.trial.spec import LibrarySnapshot, TrialSpec

__all__ = ["LibrarySnapshot", "TrialSpec", "run_trial"]
FEEDBACK_MODES, PRIVILEGED_FEEDBACK = p.FEEDBACK_MODES, p.PRIVILEGED_FEEDBACK


async def _ask(
    backend: Backend,
    msgs: list[dict],
    sink: ev.EventSink,
    block: int,
    images: list[bytes] | None = None,
) -> LLMReply:
    coalescer = ev.DeltaCoalescer(sink, block)
    reply: LLMReply | None = None
    try:
        async for item in backend.stream(msgs, images=images):
            if isinstance(item, TextDelta):
                if getattr(item, "restart", False):  # the stream broke and is being re-asked
                    coalescer.flush()
                    sink(LlmDelta(block=block, restart=True))
                    continue
                coalescer.add(item.text)
            else:
                reply = item
    except LLMError as exc:  # failed for good: what was retried first is still recorded
        coalescer.flush()
        for retry in exc.retries:
            sink(LlmRetry.from_data({"block": block, **_retry_dict(retry)}))
        raise
    coalescer.flush()
    if reply is None:
        raise LLMError(f"{backend.name} ended its stream without a final reply")
    for retry in reply.retries:
        sink(LlmRetry.from_data({"block": block, **_retry_dict(retry)}))
    return reply


def _failed_call(block: int, exc: LLMError, model: str) -> FailedCall:
    retries = tuple(_retry_dict(r) for r in exc.retries)
    return FailedCall(block, str(exc), exc.kind, exc.status, retries, model)


def _retry_dict(retry: object) -> dict:
    from dataclasses import asdict, is_dataclass

    return asdict(retry) if is_dataclass(retry) else dict(vars(retry))


@dataclass
class _Vision:
    """One vision-model call: its description and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


async def _ask_vision(vdm: Backend, initial: str, instruction: str, images: list[bytes]) -> _Vision:
    """CaP-X's visual-difference model: the task's first prompt, an instruction, the images."""
    from engine.llm.base import complete

    msgs = [
        {"role": "system", "content": p.VDM_SYSTEM},
        {"role": "user", "content": f"{initial}\n{instruction}"},
    ]
    try:
        reply = await complete(vdm, msgs, images=images)
    except LLMError as exc:
        raise LLMError(f"vision model: {exc}", exc.retries, kind=exc.kind) from None
    return _Vision(
        reply.text.strip(),
        reply.prompt_tokens or 0,
        reply.completion_tokens or 0,
        reply.latency_s,
    )


def _charge(block: BlockRecord, vision: _Vision) -> None:
    block.vdm_prompt_tokens += vision.prompt_tokens
    block.vdm_completion_tokens += vision.completion_tokens
    block.vdm_latency_s += vision.latency_s


async def run_trial(
    spec: TrialSpec,
    backend: Backend,
    *,
    sink: ev.EventSink = ev.discard,
    vdm: Backend | None = None,
    runner: BlockRunner | None = None,
    on_block: Callable[[BlockRecord], None] | None = None,
) -> TrialRecord:
    """Run one trial to its end and return its record (never raises for what the LLM or code does)."""
    from engine.errors import UserError, WorkerLost
    from engine.sim.tasks import get_task

    if spec.feedback not in FEEDBACK_MODES:
        raise UserError(
            f"unknown feedback mode {spec.feedback!r} (known: {', '.join(FEEDBACK_MODES)})"
        )
    if spec.feedback == "vdm" and vdm is None:
        raise UserError(
            "feedback 'vdm' needs a vision model to describe the frames ([vdm] in the config)"
        )
    task = get_task(spec.world.task)
    world = spec.world
    record = TrialRecord(
        trial_id=spec.trial_id,
        task=world.task,
        seed=world.seed,
        backend=backend.name,
        model=backend.model,
        synthetic=backend.synthetic,
        condition=spec.condition,
        library_version=spec.library.version,
    )
    t_trial = time.perf_counter()
    sink(
        TrialStarted(
            task=world.task,
            seed=world.seed,
            condition=spec.condition,
            backbone=spec.backbone,
            backend=backend.name,
            model=backend.model,
            synthetic=backend.synthetic,
            library_version=spec.library.version,
            feedback=spec.feedback,
            privileged=spec.privileged,
        )
    )
    from engine.api.docs import robot_api_docs

    docs = robot_api_docs()
    if spec.library.docs:
        docs += "\n\n" + spec.library.docs
    first = p.initial_prompt(task.goal, docs, spec.prompts)
    runner = runner or BlockRunner(spec)
    frames_wanted = spec.feedback in ("vision", "vdm")
    # The worker (scene build, GL context, library seeding) starts while the LLM writes the
    # first block, so its start-up cost hides behind the model's latency. Vision modes need the
    # initial frame in the first prompt, so there the LLM waits for it.
    starting = asyncio.create_task(runner.start(library=spec.library, sink=sink))
    state: dict | None = None
    opening: _Vision | None = None
    try:
        user, images = first, None
        if frames_wanted:
            state = await starting
            initial_frame = runner.initial_frame or b""
            if spec.feedback == "vdm":
                assert vdm is not None
                opening = await _ask_vision(vdm, first, p.VDM_INITIAL, [initial_frame])
                first = p.initial_prompt(task.goal, docs, spec.prompts, scene=opening.text)
                user = first
            else:
                first = first + "\n\n" + p.INITIAL_IMAGE
                user, images = first, [initial_frame]
        code_so_far: list[str] = []
        max_blocks = spec.max_regenerations + 1
        index = 0
        while True:
            t_turn = time.perf_counter()
            try:
                reply = await _ask(backend, p.messages(user, spec.prompts), sink, index, images)
            except LLMError as exc:
                record.end_reason, record.error = "llm_error", str(exc)
                record.failed_call = _failed_call(index, exc, backend.model)
                break
            decision = "initial" if index == 0 else p.parse_decision(reply.text)
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
                served_model=reply.model,
                system_fingerprint=reply.system_fingerprint or "",
                served_extra=dict(reply.served_extra),
            )
            if opening is not None and index == 0:
                _charge(block, opening)
            record.blocks.append(block)
            record.llm_time_s += reply.latency_s
            sink(Decision(block=index, decision=decision))
            if decision == "finish":
                block.wall_time_s = time.perf_counter() - t_turn
                record.end_reason = "finish"
                if on_block is not None:
                    on_block(block)
                break
            block.code = (
                p.extract_code(reply.text) if index == 0 else p.regenerated_code(reply.text)
            )
            sink(CodeReady(block=index, code=block.code))
            if state is None:
                state = await starting
            sink(ExecStarted(block=index))
            outcome = await runner.run(
                block.code, index, want_frames=frames_wanted or spec.keep_frames
            )
            block.result = replace(outcome, frames={})  # the result keeps no images ...
            if spec.keep_frames:  # ... the block does, to be stored as files beside the session
                block.frames = dict(outcome.frames)
            record.exec_time_s += outcome.exec_time_s
            sink(
                ExecFinished(
                    block=index,
                    ok=block.ok,
                    success=block.success,
                    reward=block.reward,
                    exception=block.exception,
                    violation=block.violation,
                    killed=block.killed,
                    status=outcome.status,
                )
            )
            before, state = state, outcome.summary or state
            code_so_far.append(block.code)
            index += 1
            ended = None
            if index >= max_blocks:
                ended = "turn_limit"
            elif outcome.status.get("steps_left", 1) <= 0:
                ended = "episode_cap"
            extras: tuple[str, ...] = ()
            if ended is None:
                extras, images = await _feedback(spec, vdm, first, block, outcome, before, task)
            block.wall_time_s = time.perf_counter() - t_turn
            if on_block is not None:
                on_block(block)
            if ended is not None:
                record.end_reason = ended
                break
            user = p.follow_up_prompt(
                first,
                code_so_far,
                block.stdout,
                _stderr_for_llm(block, outcome.reset_note),
                extras,
                spec.prompts,
            )
            if images is not None and spec.feedback == "vision":
                images = [runner.initial_frame or b"", *images]
    except LLMError as exc:  # the vision model failed for good
        record.end_reason, record.error = "llm_error", str(exc)
        record.failed_call = _failed_call(len(record.blocks), exc, vdm.model if vdm else "")
    except SandboxError as exc:
        record.end_reason, record.error = "sandbox_error", str(exc)
    except WorkerLost:  # the sandbox was killed from outside: the sweep runs the trial again
        record.end_reason = "worker_lost"
        raise
    except asyncio.CancelledError:
        record.end_reason = "cancelled"
        raise
    finally:
        if not starting.done():
            starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        await runner.close()
        _finish(record, spec, t_trial)
        if record.end_reason not in ("cancelled", "worker_lost"):
            sink(TrialFinished(summary=record.summary()))
    return record


async def _feedback(
    spec: TrialSpec,
    vdm: Backend | None,
    first: str,
    block: BlockRecord,
    outcome: ExecResult,
    before: dict,
    task: object,
) -> tuple[tuple[str, ...], list[bytes] | None]:
    """The parts the feedback mode adds to the next prompt (and the images it attaches);
    ``block.feedback`` keeps the text for the record."""
    if spec.feedback == "privileged":
        block.feedback = scene_diff(before, outcome.summary or before, task.primary)  # type: ignore[attr-defined]
        return (p.PRIVILEGED_STATE.format(diff=block.feedback),), None
    frames = [outcome.frames[k] for k in ("before", "after") if k in outcome.frames]
    if spec.feedback == "vision" and len(frames) == 2:
        return (p.CURRENT_IMAGE,), [frames[1]]
    if spec.feedback == "vdm" and len(frames) == 2:
        assert vdm is not None
        vision = await _ask_vision(vdm, first, p.VDM_DIFFERENCE, frames)
        _charge(block, vision)
        block.feedback = vision.text
        return (p.VISUAL_DIFFERENCE.format(description=vision.text),), None
    return (), None


def _stderr_for_llm(block: BlockRecord, reset_note: str = "") -> str:
    """The block's console stderr, plus what the sandbox did that the code could not print
    (a refused action, a kill and the reset that followed): what the engine's console shows."""
    parts = [block.stderr.rstrip("\n")] if block.stderr.strip() else []
    for label, text in (("policy", block.violation), ("killed", block.killed)):
        if text and text not in block.stderr:
            parts.append(f"{label}: {text}")
    if reset_note:
        parts.append(reset_note)
    return "\n".join(parts) + ("\n" if parts else "")


def _finish(record: TrialRecord, spec: TrialSpec, t0: float) -> None:
    executed = record.executed_blocks
    if executed:
        final = executed[-1]
        record.final_success = final.success
        record.reward = final.reward
        record.code_ran_clean = final.ok
        record.any_success = any(b.success for b in executed)
    record.served_model = ", ".join(
        dict.fromkeys(b.served_model for b in record.blocks if b.served_model)
    )
    record.prompt_tokens = sum(b.prompt_tokens for b in record.blocks)
    record.completion_tokens = sum(b.completion_tokens for b in record.blocks)
    vdm_in = sum(b.vdm_prompt_tokens for b in record.blocks)
    vdm_out = sum(b.vdm_completion_tokens for b in record.blocks)
    cost = spec.price.cost(record.prompt_tokens, record.completion_tokens)
    record.cost_usd = round(cost + spec.vdm_price.cost(vdm_in, vdm_out), 6)
    record.wall_time_s = round(time.perf_counter() - t0, 4)
