"""The synthetic coder: reproducible, varied, protocol-abiding, and its clean programs work."""

from __future__ import annotations

import ast
import re

import pytest

from engine.api.docs import robot_api_docs
from engine.api.env import build_env
from engine.api.runner import run_program
from engine.llm.base import LLMReply, TextDelta
from engine.llm.synthetic import SyntheticBackend
from engine.trial.prompts import follow_up_prompt, initial_prompt, messages

FIRST = initial_prompt("pick up the red cube and lift it", robot_api_docs())
FIRST_CURATED = initial_prompt("pick up the red cube and lift it", robot_api_docs("curated9"))


def follow(code: str, stderr: str, stdout: str = "", first: str = FIRST) -> list[dict]:
    """A follow-up exactly as CaP-X's feedback builds it: code so far, stdout, stderr."""
    return messages(follow_up_prompt(first, [code], stdout, stderr))


LIFTED = "12 grasp candidates\nlift done\nlift check: the cube rose 0.150 m\n"
NOT_LIFTED = "12 grasp candidates\nlift done\nlift check: the cube rose 0.004 m\n"


def test_same_seed_same_reply_and_different_seeds_differ() -> None:
    a = SyntheticBackend("strong", seed=5).reply_for(messages(FIRST))
    b = SyntheticBackend("strong", seed=5).reply_for(messages(FIRST))
    assert a == b
    programs = {SyntheticBackend("strong", seed=s).reply_for(messages(FIRST)) for s in range(50)}
    assert len(programs) >= 40


async def test_replies_stream_in_many_pieces_and_are_labelled_synthetic() -> None:
    backend = SyntheticBackend("weak", seed=1)
    pieces, reply = [], None
    async for item in backend.stream(messages(FIRST)):
        if isinstance(item, TextDelta):
            pieces.append(item.text)
        else:
            reply = item
    assert isinstance(reply, LLMReply) and reply.synthetic and reply.backend == "synthetic"
    assert len(pieces) > 100 and "".join(pieces) == reply.text
    assert reply.prompt_tokens > 500 and reply.completion_tokens > 50


@pytest.mark.parametrize("profile", ["strong", "weak"])
def test_first_turn_programs_parse_and_define_helpers_with_and_without_docstrings(profile) -> None:
    with_doc = without_doc = 0
    for seed in range(200):
        code = SyntheticBackend(profile, seed=seed).reply_for(messages(FIRST))
        tree = ast.parse(code)  # a SyntaxError fails the test
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                if ast.get_docstring(node):
                    with_doc += 1
                else:
                    without_doc += 1
    assert with_doc > 50 and without_doc > 50


def test_bug_rates_differ_by_profile() -> None:
    def buggy(profile: str) -> float:
        count = 0
        for seed in range(300):
            backend = SyntheticBackend(profile, seed=seed)
            backend.reply_for(messages(FIRST))
            count += backend.last_choices.bug is not None
        return count / 300

    strong, weak = buggy("strong"), buggy("weak")
    assert 0.12 < strong < 0.3 and 0.5 < weak < 0.7


def test_its_own_lift_check_gets_finish_and_a_failure_gets_regenerate_with_code() -> None:
    finishes = sum(
        "REGENERATE"
        not in SyntheticBackend("strong", seed=s).reply_for(follow("x = 1", "", LIFTED))
        for s in range(100)
    )
    assert finishes >= 90
    for seed in range(30):
        reply = SyntheticBackend("strong", seed=seed).reply_for(
            follow("x = 1", "RuntimeError: boom")
        )
        if "REGENERATE" in reply:
            assert "```python\n" in reply and reply.rstrip().endswith("```")
    weak_quits = sum(
        SyntheticBackend("weak", seed=s).reply_for(follow("x = 1", "RuntimeError: boom"))
        == "FINISH"
        for s in range(300)
    )
    assert 15 < weak_quits < 80  # premature FINISH ~15%


def test_a_check_that_saw_no_lift_gets_regenerate_and_silence_without_errors_gets_finish() -> None:
    regenerates = sum(
        "REGENERATE"
        in SyntheticBackend("strong", seed=s).reply_for(follow("x = 1", "", NOT_LIFTED))
        for s in range(100)
    )
    assert regenerates >= 90
    unseen = "lift check: the cube is not visible\n"
    lost = sum(
        "REGENERATE" in SyntheticBackend("strong", seed=s).reply_for(follow("x", "", unseen))
        for s in range(100)
    )
    assert lost >= 90
    trusting = sum(
        "REGENERATE"
        not in SyntheticBackend("strong", seed=s).reply_for(follow("x = 1", "", "done\n"))
        for s in range(100)
    )
    assert trusting >= 90  # no check, no error: it believes the program worked


def test_it_reads_its_prints_not_the_simulator() -> None:
    """Privileged text in the prompt does not sway it: only its own check and the errors do."""
    oracle = ("PRIVILEGED simulator state ... task success: yes",)
    msgs = messages(follow_up_prompt(FIRST, ["x = 1"], NOT_LIFTED, "", oracle))
    regenerates = sum(
        "REGENERATE" in SyntheticBackend("strong", seed=s).reply_for(msgs) for s in range(100)
    )
    assert regenerates >= 90  # its own check said "not lifted", whatever the oracle says


def test_the_lift_check_it_prints_measures_what_the_camera_sees() -> None:
    """A clean program's check reports a rise close to the cube's true rise (from perception)."""
    env = build_env(quality="fast", seed=0)
    checked = 0
    for seed in range(30):
        backend = SyntheticBackend("strong", seed=seed)
        code = backend.reply_for(messages(FIRST))
        if backend.last_choices.bug is not None or not backend.last_choices.verify:
            continue
        env.reset(seed)
        start = env.sim.object_pos("cube")[2]
        result = run_program(code, env=env, seed=seed)
        rise = float(re.search(r"lift check: the cube rose (-?[\d.]+) m", result.stdout).group(1))
        true_rise = env.sim.object_pos("cube")[2] - start
        assert abs(rise - true_rise) < 0.05  # the fingers hide part of the held cube
        assert rise > 0.05  # enough to conclude "lifted" from its own measurement
        checked += 1
        if checked == 6:
            break
    assert checked == 6


@pytest.mark.parametrize("profile, low, high", [("strong", 0.68, 0.92), ("weak", 0.28, 0.52)])
def test_a_seen_name_error_is_fixed_at_the_profile_rate(profile, low, high) -> None:
    buggy = "import numpy as np\nobs = get_observations()\n"
    fixed = total = 0
    for seed in range(300):
        reply = SyntheticBackend(profile, seed=seed).reply_for(
            follow(buggy, "NameError: name 'get_observations' is not defined")
        )
        if "REGENERATE" not in reply:
            continue
        total += 1
        fixed += "get_observations(" not in reply
    assert low < fixed / total < high


def test_library_skills_listed_in_the_prompt_get_called() -> None:
    calls = 0
    for seed in range(50):
        code = SyntheticBackend("strong", seed=seed).reply_for(messages(FIRST_CURATED))
        calls += "select_top_down_grasp(" in code or "rotation_matrix_to_quaternion(" in code
    assert calls > 30


def test_failed_skill_calls_get_rewritten_with_primitives_sometimes() -> None:
    stderr = "NameError: name 'select_top_down_grasp' is not defined"
    msgs = follow("x = select_top_down_grasp(a, b, c)", stderr, first=FIRST_CURATED)
    rewritten = sum(
        "select_top_down_grasp(" not in SyntheticBackend("strong", seed=s).reply_for(msgs)
        for s in range(100)
    )
    assert rewritten > 40


def test_clean_strong_programs_lift_the_cube_and_bugs_fail() -> None:
    env = build_env(quality="fast", seed=0)
    clean = clean_ok = bug_ok = bugs = 0
    for seed in range(12):
        backend = SyntheticBackend("strong", seed=seed)
        code = backend.reply_for(messages(FIRST))
        env.reset(seed)
        ok = run_program(code, env=env, seed=seed).success
        if backend.last_choices.bug is None:
            clean, clean_ok = clean + 1, clean_ok + ok
        else:
            bugs, bug_ok = bugs + 1, bug_ok + ok
    assert clean >= 6 and clean_ok / clean >= 0.8
    assert bug_ok <= bugs / 2
