"""Programs against the API: reference programs, failing programs, docs text, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.api.docs import robot_api_docs
from engine.api.robot import API_NAMES
from engine.api.runner import run_program
from engine.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_reference_cube_lift_succeeds_on_at_least_95_of_seeds_1_to_100() -> None:
    from engine.api.env import build_env

    source = (EXAMPLES / "cube_lift.py").read_text()
    env = build_env(quality="fast", seed=1)
    wins = 0
    for seed in range(1, 101):
        env.reset(seed)
        wins += run_program(source, seed=seed, env=env).success
    assert wins >= 95, f"reference program lifted the cube on {wins}/100 seeds"


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_cube_stack_succeeds(seed: int) -> None:
    result = run_program(
        (EXAMPLES / "cube_stack.py").read_text(), task="cube_stack", seed=seed, quality="fast"
    )
    assert result.success, result.error or result.stdout


def test_a_program_that_raises_gets_a_clear_error_and_nothing_crashes() -> None:
    bad = run_program("x = 1\nmove_to_joints([0, 0])\n", quality="fast")
    assert not bad.success
    assert (
        bad.error
        == "ValueError: move_to_joints: expected 7 finite joint angles, got shape (2,) (line 2)"
    )
    syntax = run_program("def f(:\n", quality="fast")
    assert syntax.error.startswith("SyntaxError")
    exits = run_program("raise SystemExit(3)", quality="fast")
    assert exits.error.startswith("SystemExit")
    good = run_program((EXAMPLES / "cube_lift.py").read_text(), seed=3, quality="fast")
    assert good.success and good.error is None


def test_api_docs_follow_the_capx_format() -> None:
    text = robot_api_docs()
    names = re.findall(r"^(\w+)\(", text, flags=re.M)
    assert names == list(API_NAMES)
    for block in re.split(r"\n\n(?=\w+\()", text):
        lines = block.splitlines()
        assert re.match(r"^\w+\(.*\) -> .+$", lines[0])  # full annotations, as combined_doc
        assert lines[1] == "  Doc:"
        assert all(line.startswith("    ") for line in lines[2:])  # blank lines too: "    "
        assert "Example:" in block
    assert "self" not in text.split("\n")[0]
    assert text.startswith("get_observation() -> dict[str, typing.Any]\n  Doc:\n")
    assert (
        "solve_ik(position: numpy.ndarray, quaternion_wxyz: numpy.ndarray) -> numpy.ndarray\n"
        in text
    )
    with_library = robot_api_docs("curated9")
    assert (
        "select_top_down_grasp(grasps: numpy.ndarray, scores: numpy.ndarray, cam_to_world: "
        "numpy.ndarray, vertical_threshold: float = 0.8) -> tuple" in with_library
    )
    assert (
        "depth_to_point_cloud(depth_img: numpy.ndarray, intrinsics: numpy.ndarray)" in with_library
    )
    assert len(re.findall(r"^  Doc:$", with_library, flags=re.M)) == 19


def test_sim_run_json_reports_the_outcome(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "sim",
            "run",
            str(EXAMPLES / "cube_lift.py"),
            "--seed",
            "3",
            "--json",
            "--quality",
            "fast",
            "--save-frames",
            str(tmp_path),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["success"] is True and out["reward"] == 1.0
    assert out["cube_height"] > 0.04 and out["steps"] > 0 and out["wall_time_s"] > 0
    assert sorted(out["frames"]) == ["after", "before"]
    assert all(Path(p).stat().st_size > 1000 for p in out["frames"].values())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sim", "run", "missing.py"], "cannot read program missing.py"),
        (["sim", "run", str(EXAMPLES / "cube_lift.py"), "--task", "nope"], "unknown task 'nope'"),
        (["api-docs", "--library", "nope"], "unknown library 'nope'"),
    ],
)
def test_bad_cli_input_is_one_line_and_non_zero(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_failed_task_exits_one(tmp_path: Path, capsys) -> None:
    prog = tmp_path / "noop.py"
    prog.write_text("print('hello')\n")
    assert main(["sim", "run", str(prog), "--quality", "fast"]) == 1
    assert "FAILED" in capsys.readouterr().out
