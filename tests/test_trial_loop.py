"""Whole trials through the sandbox: protocol, success on the final attempt, limits, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.llm.openai_backend import OpenAIBackend, OpenAIConfig
from engine.llm.replay import ReplayBackend
from engine.llm.synthetic import SyntheticBackend
from engine.skills.library import builtin_library
from engine.trial import events as ev
from engine.trial import prompts as p
from engine.trial.loop import TrialSpec, run_trial
from engine.trial.records import Price
from tests.openai_server import Behaviour
from tests.sweep_helpers import trial_spec

LIFT = (Path(__file__).resolve().parent.parent / "examples" / "cube_lift.py").read_text()


def spec(**kw) -> TrialSpec:
    kw.setdefault("seed", 3)
    return trial_spec(kw.pop("trial_id", "t"), quality="fast", **kw)


async def test_fix_after_a_failure_then_finish() -> None:
    events: list[ev.TrialEvent] = []
    replies = [
        "move_to_joints([0, 0])",  # raises
        "REGENERATE\n```python\n" + LIFT + "```",
        "FINISH",
    ]
    record = await run_trial(spec(), ReplayBackend(replies), sink=events.append)
    assert [b.decision for b in record.blocks] == ["initial", "regenerate", "finish"]
    first, second, finish = record.blocks
    assert (
        first.executed and not first.ok and first.exception.startswith("ValueError: move_to_joints")
    )
    assert "ValueError: move_to_joints" in second.prompt  # it saw the failure in stderr...
    assert "task success" not in second.prompt  # ...and nothing the simulator knows
    assert second.ok and second.success and not finish.executed
    assert record.final_success and record.any_success and record.code_ran_clean
    assert (record.n_blocks, record.regenerations, record.finishes, record.end_reason) == (
        2,
        1,
        1,
        "finish",
    )
    kinds = [e.kind for e in events]
    assert kinds[0] == ev.TRIAL_STARTED and kinds[-1] == ev.TRIAL_FINISHED
    assert ev.STDOUT in kinds and ev.SIM_STATUS in kinds and ev.LLM_DELTA in kinds
    deltas = "".join(e.data["text"] for e in events if e.kind == ev.LLM_DELTA)
    assert deltas == "".join(replies)


async def test_success_counts_only_on_the_final_attempt() -> None:
    drop = "open_gripper()\nmove_to_joints(q_pre)\n"  # lets go of the lifted cube
    replies = [LIFT, "REGENERATE\n```python\n" + drop + "```", "FINISH"]
    record = await run_trial(spec(), ReplayBackend(replies))
    assert record.blocks[0].success and not record.blocks[1].success
    assert record.any_success and not record.final_success
    assert "q_pre" in record.blocks[1].code  # variables persisted from block 0


async def test_turn_limit_ends_after_the_allowed_regenerations() -> None:
    replies = ["print(0)"] + ["REGENERATE\n```python\nprint(1)\n```"] * 20
    record = await run_trial(spec(max_regenerations=3), ReplayBackend(replies))
    assert record.n_blocks == 4 and record.regenerations == 3 and record.end_reason == "turn_limit"
    assert not record.final_success


async def test_hostile_block_is_recorded_and_the_trial_goes_on() -> None:
    replies = [
        "import os\nos.system('true')",
        "REGENERATE\n```python\nwhile True:\n    pass\n```",
        "REGENERATE\n```python\nprint('alive')\n```",
        "FINISH",
    ]
    record = await run_trial(spec(block_timeout_s=1.5), ReplayBackend(replies))
    policy, loop, alive, _ = record.blocks
    assert "import of 'os' is not allowed" in policy.violation
    assert loop.killed == "wall-clock limit of 1.5 s exceeded"
    assert loop.feedback == ""  # capx feedback adds nothing beyond code and console output
    assert "reset to their initial state" in alive.prompt  # told on the console's stderr
    assert alive.ok and alive.stdout == "alive\n" and record.end_reason == "finish"


async def test_an_llm_failure_ends_the_trial_with_the_record_kept() -> None:
    record = await run_trial(spec(), ReplayBackend([LIFT]))  # no reply left for turn 2
    assert record.end_reason == "llm_error" and "no recorded reply left" in record.error
    assert record.n_blocks == 1 and record.final_success  # judged on the last executed block


async def test_curated9_skills_are_seeded_into_the_namespace() -> None:
    code = (
        "obs = get_observation()['robot0_robotview']\n"
        "mask = segment_sam3_text_prompt(obs['images']['rgb'], 'cube')[0]['mask']\n"
        "poses, scores = plan_grasp(obs['images']['depth'], obs['intrinsics'], mask)\n"
        "best, score = select_top_down_grasp(poses, scores, obs['pose_mat'])\n"
        "print(decompose_transform(best)[1].shape)\n"
    )
    with_lib = await run_trial(
        spec(library=builtin_library("curated9")), ReplayBackend([code, "FINISH"])
    )
    assert with_lib.blocks[0].ok and with_lib.blocks[0].stdout == "(4,)\n"
    assert "select_top_down_grasp(grasps: numpy.ndarray, scores:" in with_lib.blocks[0].prompt
    without = await run_trial(spec(), ReplayBackend([code, "FINISH"]))
    assert without.blocks[0].exception.startswith("NameError: name 'select_top_down_grasp'")


async def test_synthetic_trials_are_reproducible_and_labelled() -> None:
    a = await run_trial(spec(seed=2), SyntheticBackend("weak", seed=2))
    b = await run_trial(spec(seed=2), SyntheticBackend("weak", seed=2))
    assert a.synthetic and a.model == "synthetic-weak"
    assert [x.reply for x in a.blocks] == [x.reply for x in b.blocks]
    assert [x.success for x in a.blocks] == [x.success for x in b.blocks]


async def test_openai_backend_trial_against_the_local_server(openai_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    openai_server.push(
        Behaviour("error", status=429, retry_after="0.05"),
        Behaviour(text=LIFT),
        Behaviour(text="FINISH"),
    )
    backend = OpenAIBackend(OpenAIConfig(model="local", base_url=openai_server.url))
    events: list[ev.TrialEvent] = []
    record = await run_trial(spec(price=Price(1.0, 2.0)), backend, sink=events.append)
    assert record.final_success and record.end_reason == "finish" and not record.synthetic
    assert record.blocks[0].llm_retries[0]["status"] == 429
    assert any(e.kind == ev.LLM_RETRY for e in events)
    assert record.prompt_tokens == 84 and record.cost_usd > 0
    follow_up = openai_server.requests[-1].body["messages"][1]["content"]
    assert "lifted" in follow_up  # the program's own print...
    assert "task success" not in follow_up and "cube height" not in follow_up  # ...no oracle


async def test_vision_feedback_sends_before_and_after_frames(openai_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    openai_server.push(Behaviour(text="print('look')"), Behaviour(text="FINISH"))
    backend = OpenAIBackend(OpenAIConfig(model="local-vl", base_url=openai_server.url, vision=True))
    await run_trial(spec(feedback="vision"), backend)
    first = openai_server.requests[0].body["messages"][1]["content"]
    assert [part["type"] for part in first] == ["text", "image_url"]  # the scene at the start
    content = openai_server.requests[-1].body["messages"][1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "image_url"]  # start, now
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert content[1] == first[1]


async def test_a_visual_difference_model_describes_the_change(openai_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    vdm = OpenAIBackend(OpenAIConfig(model="vdm", base_url=openai_server.url, vision=True))
    openai_server.push(
        Behaviour(text="A small red cube sits on a table."),
        Behaviour(text="The red cube was lifted off the table."),
    )
    record = await run_trial(
        spec(feedback="vdm", vdm_price=Price(1.0, 1.0)), ReplayBackend([LIFT, "FINISH"]), vdm=vdm
    )
    initial, change = (r.body["messages"][1]["content"] for r in openai_server.requests)
    assert len([p for p in initial if p["type"] == "image_url"]) == 1  # the scene at the start
    assert len([p for p in change if p["type"] == "image_url"]) == 2  # before and after
    first, second = record.blocks[0].prompt, record.blocks[1].prompt
    assert first.endswith("describes it:\nA small red cube sits on a table.")  # CaP-X: appended
    assert "The red cube was lifted off the table." in second
    assert record.blocks[0].feedback == "The red cube was lifted off the table."
    vdm_tokens = sum(b.vdm_prompt_tokens + b.vdm_completion_tokens for b in record.blocks)
    assert vdm_tokens > 0 and record.cost_usd == pytest.approx(vdm_tokens / 1e6, abs=1e-6)


async def test_a_default_follow_up_holds_code_stdout_and_stderr_and_nothing_else() -> None:
    replies = ["print('hi')\nmove_to_joints([0])", "REGENERATE\n```python\nprint(2)\n```", "FINISH"]
    record = await run_trial(spec(), ReplayBackend(replies))
    first, second, third = record.blocks
    code0 = "print('hi')\nmove_to_joints([0])"
    expected = p.follow_up_prompt(first.prompt, [code0], first.stdout, first.stderr)
    assert second.prompt == expected
    assert first.stderr.startswith("Traceback") and "ValueError" in first.stderr
    assert third.prompt == p.follow_up_prompt(first.prompt, [code0, "print(2)"], "2\n", "")


async def test_privileged_feedback_is_labelled_and_carries_the_scene_diff() -> None:
    record = await run_trial(spec(feedback="privileged"), ReplayBackend([LIFT, "FINISH"]))
    first, finish = record.blocks
    assert "task success: yes" in first.feedback
    assert "PRIVILEGED simulator state" in finish.prompt and first.feedback in finish.prompt


async def test_the_served_model_is_kept_per_call_and_per_trial(
    openai_server, monkeypatch, tmp_path
) -> None:
    from tests.sweep_helpers import begin_run, new_session

    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    served = dict(model="local-2025-06", fingerprint="fp_abc123", provider="AcmeCloud")
    openai_server.push(Behaviour(text=LIFT, **served), Behaviour(text="FINISH", **served))
    backend = OpenAIBackend(OpenAIConfig(model="local", base_url=openai_server.url))
    writer = new_session(tmp_path / "s.db", synthetic=False)
    run = begin_run(writer, "t", backend="openai", model="local")
    record = await run_trial(spec(), backend, on_block=lambda b: writer.add_block(run, "t", b))
    writer.finish_run(run, record)
    calls = writer.conn.execute(
        "SELECT backend, model, system_fingerprint, extra_json FROM llm_calls ORDER BY block_idx"
    ).fetchall()
    trial = writer.conn.execute("SELECT model, served_model FROM trials").fetchone()
    writer.close()
    assert [c[:3] for c in calls] == [("openai", "local-2025-06", "fp_abc123")] * 2
    assert all('"provider":"AcmeCloud"' in c[3] for c in calls)
    assert trial == ("local", "local-2025-06")  # asked for, and what answered
