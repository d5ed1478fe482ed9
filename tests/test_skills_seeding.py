"""Namespace seeding: skills that call each other work only when executed into one namespace."""

from __future__ import annotations

from dataclasses import replace

from engine.llm.replay import ReplayBackend
from engine.skills.conditions import Skill
from engine.skills.library import snapshot
from engine.trial.loop import run_trial
from tests.corpora import skills_corpus as K
from tests.sweep_helpers import trial_spec

QUAT = Skill(
    "a",
    "quat_from_matrix",
    "(R)",
    "Convert a rotation matrix to a [w, x, y, z] quaternion.",
    K.QUAT_DOC.strip(),
    (),
)
PICK = Skill(
    "b",
    "grasp_quaternion",
    "(grasp)",
    "Quaternion [w, x, y, z] of a world-frame grasp pose.",
    K.PICK_QUAT.strip(),
    ("quat_from_matrix",),
)
CALL = "import numpy as np\nprint(grasp_quaternion(np.eye(4)))"


async def _run(library) -> str:
    spec = trial_spec("seed", quality="fast", library=library)
    record = await run_trial(spec, ReplayBackend([CALL, "FINISH"]))
    block = record.blocks[0]
    return block.stdout if block.ok else block.exception


async def test_with_namespace_seeding_a_skill_finds_the_skill_it_calls() -> None:
    library = snapshot("C1", [PICK, QUAT])  # listed in the "wrong" order on purpose
    assert library.source.index("def quat_from_matrix") < library.source.index(
        "def grasp_quaternion"
    )
    assert await _run(library) == "[1. 0. 0. 0.]\n"


async def test_isolated_injection_fails_with_the_name_error_seeding_avoids() -> None:
    library = snapshot("C1", [PICK, QUAT], seeding="isolated")
    result = await _run(library)
    assert result.startswith("NameError: name 'quat_from_matrix' is not defined")


async def test_a_library_hands_the_trial_its_functions_but_not_its_imports() -> None:
    """As in CaP-X, numpy is not pre-imported; a library's own import must not change that
    (else a program that forgets it would fail in P21_a and work in a library condition)."""
    spec = trial_spec("np", quality="fast", library=snapshot("C1", [PICK, QUAT]))
    probe = "print(callable(grasp_quaternion))\nprint(np.pi)"
    record = await run_trial(spec, ReplayBackend([probe, "FINISH"]))
    block = record.blocks[0]
    assert block.stdout == "True\n" and block.exception.startswith("NameError: name 'np'")


async def test_skills_only_in_the_prompt_are_not_callable() -> None:
    library = replace(snapshot("C1", [PICK, QUAT]), source="", parts=())
    assert (await _run(library)).startswith("NameError: name 'grasp_quaternion' is not defined")
