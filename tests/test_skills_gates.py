"""Mining and gates on hand-written corpora: every rejection has its reason."""

from __future__ import annotations

import pytest

from engine.skills.gates import GateConfig, passed, run_gates
from engine.skills.mining import BlockCode, Provenance, calls_in, extract_defs, pool
from tests.corpora import skills_corpus as K


def blocks(spec: list[tuple[str, bool]]) -> list[BlockCode]:
    """(code, trial success) per trial, one block each."""
    return [
        BlockCode(code, Provenance(f"t{i}", 0, "syn", "P21_a", ok))
        for i, (code, ok) in enumerate(spec)
    ]


def test_mining_takes_every_top_level_def_with_provenance() -> None:
    code = K.program(
        K.QUAT_DOC, K.TOPDOWN, body="def later():\n    def inner():\n        pass\n    return 1\n"
    )
    names = [f.name for f in extract_defs(code)]
    assert names == [
        "quat_from_matrix",
        "top_down_grasps",
        "later",
    ]  # nested inner is not top level
    info = extract_defs(code)[1]
    assert info.signature == "(poses, scores, cam_to_world, min_dot=0.8)"
    assert info.docstring.startswith("World-frame grasps") and "zip" in info.calls
    assert extract_defs("def broken(:\n") == []
    cands = pool(blocks([(code, True), (K.program(K.QUAT_DOC), False)]))
    quat = next(c for c in cands if c.name == "quat_from_matrix")
    assert quat.n_trials == 2 and quat.success_rate == 0.5
    assert {o.trial_key for o in quat.occurrences} == {"t0", "t1"}
    assert calls_in(
        "a = quat_from_matrix(R)\nb = quat_from_matrix(S)\nc = top(1)", ["quat_from_matrix", "top"]
    ) == {
        "quat_from_matrix": 2,
        "top": 1,
    }


def _gates(code: str, trials: int = 3, success: bool = True, cfg: GateConfig | None = None):
    cands = pool(blocks([(K.program(code), success)] * trials))
    results = run_gates(cands, cfg or GateConfig())
    return {c.name: results[c.id] for c in cands}


def _failed(results) -> dict[str, str]:
    """Every failure reason per gate, joined (a gate may fail for several reasons)."""
    out: dict[str, list[str]] = {}
    for r in results:
        if not r.passed:
            out.setdefault(r.gate, []).append(r.reason)
    return {gate: "; ".join(reasons) for gate, reasons in out.items()}


def test_a_general_documented_successful_skill_passes_every_gate() -> None:
    results = _gates(K.TOPDOWN)["top_down_grasps"]
    assert passed(results) and [r.gate for r in results] == [
        "compiles",
        "docstring",
        "generality",
        "occurrences",
        "success",
        "dependencies",
    ]


@pytest.mark.parametrize(
    "code, name, gate, reason",
    [
        (K.QUAT_RENAMED_NODOC, "rotmat_to_quat", "docstring", "no docstring"),
        (
            K.TASK_NAMED,
            "lift_red_cube",
            "generality",
            "name 'lift_red_cube' is task-specific (lift, red, cube)",
        ),
        (
            K.HARD_CODED,
            "move_above_target",
            "generality",
            "hard-coded coordinates [0.55, 0.02, 0.05]",
        ),
        (K.MAGIC, "approach", "generality", "magic constants (0.137, 0.093, 0.731)"),
        (
            K.USES_GLOBAL,
            "go_to_grasp",
            "generality",
            "depends on trial-local globals ('position', 'quat')",
        ),
        (K.MISSING_DEP, "lift_by", "dependencies", "calls 'forward_kinematics', 'pose_to_quat'"),
        (K.TOO_SHORT, "ident", "compiles", "only 2 lines"),
    ],
)
def test_each_gate_rejects_with_a_readable_reason(code, name, gate, reason) -> None:
    failed = _failed(_gates(code)[name])
    assert gate in failed, failed
    assert reason in failed[gate]


def test_the_generality_gate_stores_every_reason_that_applies() -> None:
    code = K.TASK_NAMED.replace(
        '"""Lift the red cube by height."""',
        '"""Lift the red cube by height."""\n    target = [0.5, 0.1, 0.2]',
    )
    results = [r for r in _gates(code)["lift_red_cube"] if r.gate == "generality"]
    reasons = [r.reason for r in results]
    assert len(results) >= 2 and not any(r.passed for r in results)
    assert any("task-specific" in r for r in reasons)
    assert any("hard-coded coordinates [0.5, 0.1, 0.2]" in r for r in reasons)


def test_the_docstring_gate_can_be_switched_off() -> None:
    strict = _failed(_gates(K.QUAT_RENAMED_NODOC)["rotmat_to_quat"])
    assert "docstring" in strict
    lenient = _gates(K.QUAT_RENAMED_NODOC, cfg=GateConfig(require_docstring=False))
    doc = [r for r in lenient["rotmat_to_quat"] if r.gate == "docstring"]
    assert doc[0].passed and "not required" in doc[0].reason


def test_occurrence_and_success_thresholds_come_from_config() -> None:
    once = _failed(_gates(K.TOPDOWN, trials=1)["top_down_grasps"])
    assert once["occurrences"] == "appeared in 1 trial (need 2)"
    failing = _failed(_gates(K.TOPDOWN, success=False)["top_down_grasps"])
    assert failing["success"] == "its trials succeeded 0% of the time (need 50%)"
    lenient = GateConfig(min_occurrences=1, min_success_rate=0.0)
    assert passed(_gates(K.TOPDOWN, trials=1, success=False, cfg=lenient)["top_down_grasps"])


def test_a_skill_may_depend_on_another_skill_that_passes() -> None:
    results = _gates(K.QUAT_DOC + K.PICK_QUAT)
    assert passed(results["grasp_quaternion"]) and passed(results["quat_from_matrix"])
    alone = _failed(_gates(K.PICK_QUAT)["grasp_quaternion"])
    assert "generality" in alone or "dependencies" in alone


def test_code_that_does_not_parse_yields_no_candidates() -> None:
    assert pool(blocks([(K.program(K.BROKEN), True)])) == []


def test_fast_extraction_matches_a_full_parse() -> None:
    from engine.api.docs import robot_api_docs
    from engine.llm.synthetic import SyntheticBackend
    from engine.skills.mining import _extract_slow
    from engine.trial.prompts import initial_prompt, messages

    prompt = messages(initial_prompt("lift", robot_api_docs()))
    for seed in range(60):
        code = SyntheticBackend("weak", seed=seed).reply_for(prompt)
        assert extract_defs(code) == _extract_slow(code)
    tricky = (
        'def f(x):\n    """Doc."""\n    s = """\nat column zero\n"""\n    return s\n\n\ny = f(1)\n'
    )
    assert [i.name for i in extract_defs(tricky)] == ["f"] and extract_defs(
        tricky
    ) == _extract_slow(tricky)
    decorated = "import functools\n@functools.cache\ndef g(n):\n    return n\n"
    assert [i.name for i in extract_defs(decorated)] == ["g"]
