"""A skill's evidence and its leave-one-out arm, end to end on replayed programs, counted by hand.

Pool session: two trials whose program defines ``observe_depth`` and lifts the cube (examples'
reference program, which also defines ``rotation_to_quat_wxyz``). Ablation session (pool = the
first, seeds 0 and 1): P21_a; C1 = {observe_depth, rotation_to_quat_wxyz} with
``ablate = "leave_one_out"``, so also C1-minus-observe_depth and C1-minus-rotation_to_quat_wxyz.
Every trial replays: block 0 calls ``observe_depth("no_such_camera")`` (a KeyError where the
skill exists, a NameError where not), block 1 calls it properly and lifts the cube, then FINISH.
So by hand: P21_a 0/2 and C1-minus-observe_depth 0/2 (NameError before lifting); C1 2/2 and
C1-minus-rotation_to_quat_wxyz 2/2 (block 1's lift defines its own quaternion helper);
observe_depth is called twice in each of those 4 trials, once raising (8 calls, 4 raised).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.skills.ablations import marginal_effects
from engine.skills.evidence import evidence_lines, skill_evidence
from engine.skills.paired import newcombe_paired
from engine.store.reader import SessionReader

LIFT = (Path(__file__).resolve().parent.parent / "examples" / "cube_lift.py").read_text()
SKILL = '''
def observe_depth(camera):
    """Depth image of a camera, from a fresh observation."""
    obs = get_observation()
    return obs[camera]["images"]["depth"]
'''
POOL_PROGRAM = SKILL + "\n_depth = observe_depth('robot0_robotview')\n" + LIFT
BLOCK0 = "import numpy as np\nobserve_depth('no_such_camera')\n"
BLOCK1 = "_depth = observe_depth('robot0_robotview')\n" + LIFT


def _run(tmp: Path, name: str, replies: list[str], body: str) -> str:
    (tmp / f"{name}.jsonl").write_text("".join(json.dumps({"text": r}) + "\n" for r in replies))
    (tmp / f"{name}.toml").write_text(
        f'[session]\nname = "{name}"\ntrials_per_condition = 2\nconcurrency = 2\n'
        f'quality = "fast"\n[[backbones]]\nname = "rec"\nbackend = "replay"\n'
        f'replies = "{name}.jsonl"\n' + body
    )
    before = set((tmp / "s").glob("*")) if (tmp / "s").exists() else set()
    argv = ["run", str(tmp / f"{name}.toml"), "--sessions-dir", str(tmp / "s"), "--quiet"]
    assert main(argv) == 0
    [new] = set((tmp / "s").glob("*")) - before
    return new.name


@pytest.fixture(scope="module")
def ablated(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("evidence")
    pool_id = _run(
        tmp,
        "pool",
        [f"```python\n{POOL_PROGRAM}```", "FINISH"],
        '[[conditions]]\nname = "P21_a"\nlibrary = "none"\n',
    )
    _run(
        tmp,
        "abl",
        [f"```python\n{BLOCK0}```", f"REGENERATE\n```python\n{BLOCK1}```", "FINISH"],
        '[[conditions]]\nname = "P21_a"\nlibrary = "none"\n'
        '[[conditions]]\nname = "C1"\nlibrary = "C1"\nablate = "leave_one_out"\n'
        f'[skills]\npool = "{pool_id}"\nmine_every = 0\n',
    )
    return next((tmp / "s").glob("*-abl-*/session.db"))


@pytest.mark.slow
def test_leave_one_out_arms_ran_on_the_same_seeds_with_one_skill_fewer(ablated: Path) -> None:
    reader = SessionReader(ablated)
    try:
        trials = reader.trials(status="done")
        by_condition: dict[str, list] = {}
        for t in trials:
            by_condition.setdefault(t["condition"], []).append(t)
        assert sorted(by_condition) == [
            "C1",
            "C1-minus-observe_depth",
            "C1-minus-rotation_to_quat_wxyz",
            "P21_a",
        ]
        assert all(sorted(t["seed"] for t in ts) == [0, 1] for ts in by_condition.values())
        sizes = {
            c: {
                len(reader.library_version(t["library_version"])["skills"])
                if t["library_version"] != "none"
                else 0
                for t in ts
            }
            for c, ts in by_condition.items()
        }
        assert sizes == {
            "C1": {2},
            "C1-minus-observe_depth": {1},
            "C1-minus-rotation_to_quat_wxyz": {1},
            "P21_a": {0},
        }
        wins = {c: sum(t["final_success"] for t in ts) for c, ts in by_condition.items()}
        assert wins == {
            "C1": 2,
            "C1-minus-observe_depth": 0,
            "C1-minus-rotation_to_quat_wxyz": 2,
            "P21_a": 0,
        }
        effects = {e.skill: e.effect for e in marginal_effects(reader)}
        assert set(effects) == {"observe_depth", "rotation_to_quat_wxyz"}
        assert (effects["observe_depth"].n_pairs, effects["observe_depth"].only_with) == (2, 2)
        assert effects["observe_depth"].diff == 1.0
        assert (effects["observe_depth"].low, effects["observe_depth"].high) == pytest.approx(
            newcombe_paired(0, 2, 0, 0)[1:]
        )
        assert effects["rotation_to_quat_wxyz"].diff == 0.0
        assert reader.session()["total_trials"] == 8
    finally:
        reader.close()


@pytest.mark.slow
def test_skill_evidence_counts_calls_raises_versions_and_pairs(ablated: Path) -> None:
    reader = SessionReader(ablated)
    try:
        e = skill_evidence(reader, "observe_depth")
    finally:
        reader.close()
    assert not e.generated
    assert sorted((m.trial_key, m.block) for m in e.mined_from) == [
        ("r0/P21_a/rec/0000", 0),
        ("r0/P21_a/rec/0001", 0),
    ]
    assert sorted(v.condition for v in e.versions) == ["C1", "C1-minus-rotation_to_quat_wxyz"]
    assert all(v.trials == 2 for v in e.versions)
    assert (e.calls, e.raised, len(e.calling_trials)) == (8, 4, 4)
    assert len(e.raised_calls) == 4
    assert {r.block for r in e.raised_calls} == {0}
    assert all(r.exception.startswith("KeyError") for r in e.raised_calls)
    assert {r.next_step for r in e.raised_calls} == {"called it again"}
    arms = {a.condition: a for a in e.arms}
    assert set(arms) == {"C1", "C1-minus-rotation_to_quat_wxyz"}
    c1 = arms["C1"]
    assert c1.partner == "C1-minus-observe_depth"  # the leave-one-out arm is the partner
    assert (c1.trials, c1.called, c1.successes) == (2, 2, 2)
    assert (c1.when_held.n_pairs, c1.when_held.rate_with, c1.when_held.rate_without) == (
        2,
        1.0,
        0.0,
    )
    assert arms["C1-minus-rotation_to_quat_wxyz"].partner == "P21_a"
    assert c1.cost_per_success == 0.0
    text = "\n".join(evidence_lines(e))
    assert "called 8 time(s) in 4 trial(s), 4 raised" in text
    assert "paired against C1-minus-observe_depth" in text


@pytest.mark.slow
def test_skills_show_and_the_report_carry_the_evidence(ablated: Path, capsys) -> None:
    sessions = str(ablated.parent.parent)
    session = ablated.parent.name
    assert main(["skills", "show", session, "observe_depth", "--sessions-dir", sessions]) == 0
    out = capsys.readouterr().out
    assert "when held:   100% vs 0% on 2 paired seeds: +100.0 pp" in out
    assert "-> called it again" in out
    assert main(["report", session, "--sessions-dir", sessions]) == 0
    report = (ablated.parent / "report" / "report.md").read_text()
    assert "## Marginal effect per skill (ablation arms)" in report
    assert (
        "| C1 | C1-minus-observe_depth | observe_depth | rec | 0 | 2 | 100.0% | 0.0% | +100.0 |"
        in report
    )
