"""``autocapx plan``: the dry run, against figures worked out by hand from its stated priors
and against the normal-approximation power formula evaluated here with scipy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import scipy.stats as st

from engine.cli import main
from engine.config import load_config
from engine.stats.dryrun import (
    PRIOR_CALLS_PER_TRIAL,
    PRIOR_COMPLETION_PER_CALL,
    PRIOR_SIM_S_PER_CALL,
    power_to_detect,
)
from engine.sweep.session import create_session
from tests.sweep_helpers import ROOT
from tests.test_budget import COMPLETION, PROMPT, _config, _run

KEYS = {"trials", "llm_calls", "tokens", "cost_usd", "wall_s", "power"}


def _plan(capsys, *args: str) -> dict:
    assert main(["plan", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_demo_plan_has_its_20_trials_and_numeric_estimates(capsys) -> None:
    out = _plan(capsys, str(ROOT / "examples" / "demo.toml"))
    assert KEYS <= set(out)
    assert out["trials"] == 20  # 2 conditions x 1 backbone x 10
    assert all(isinstance(out[k], int | float) and out[k] >= 0 for k in KEYS)
    assert out["llm_calls"] == round(20 * PRIOR_CALLS_PER_TRIAL)
    assert out["completion_tokens"] == round(20 * PRIOR_CALLS_PER_TRIAL * PRIOR_COMPLETION_PER_CALL)
    # demo: latency 0.004 s/token, concurrency 2: 20 trials x 2.5 calls x (600 x 0.004 + 5) s / 2
    assert out["wall_s"] == pytest.approx(20 * 2.5 * (600 * 0.004 + PRIOR_SIM_S_PER_CALL) / 2)
    assert out["cost_usd"] == 0.0  # the synthetic coder costs nothing
    assert 0 < out["power"] < 1
    capsys.readouterr()
    assert main(["plan", str(ROOT / "examples" / "demo.toml")]) == 0
    assert "20 trials (2 conditions x 1 backbones x 10)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "n, p0, d", [(10, 0.5, 0.1), (70, 0.5, 0.1), (180, 0.9, 0.07), (50, 0.95, 0.1)]
)
def test_power_is_the_two_sided_arcsine_formula(n: int, p0: float, d: float) -> None:
    p1 = p0 + d if p0 + d <= 1 else p0 - d
    h = abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0)))
    z = st.norm.ppf(0.975)
    expected = st.norm.cdf(h * math.sqrt(n / 2) - z) + st.norm.cdf(-h * math.sqrt(n / 2) - z)
    assert power_to_detect(n, p0, d, 0.05) == pytest.approx(expected, rel=1e-9)


def test_cost_and_the_rate_limit_ceiling(tmp_path: Path, capsys) -> None:
    backbones = (
        'name = "x"\nbackend = "openai"\nmodel = "m"\nprice_input_per_m = 2\n'
        "price_output_per_m = 8\nrequests_per_minute = 1"
    )
    file = _config(tmp_path / "s.toml", backbones=backbones, analysis=(
        '[analysis]\nreference = "ref"\ntarget_difference = 0.2\nbaseline_rate = 0.6'
    ))  # fmt: skip
    out = _plan(capsys, str(file))
    (bb,) = out["per_backbone"]
    per = bb["per_trial"]
    assert out["trials"] == 6
    assert out["cost_usd"] == pytest.approx(
        6 * (per["prompt_tokens"] * 2 + per["completion_tokens"] * 8) / 1e6, rel=1e-6
    )
    assert out["wall_s"] == pytest.approx(6 * 2.5 * 60.0)  # 15 calls at 1 a minute
    assert out["power"] == pytest.approx(power_to_detect(3, 0.6, 0.2, 0.05), abs=1e-4)


async def test_a_session_calibrates_the_rest_of_its_plan(tmp_path: Path, capsys) -> None:
    file = _config(tmp_path / "s.toml", session="max_cost_usd = 2.5")
    sessions = tmp_path / "sessions"
    directory = create_session(load_config(file), sessions, file)
    assert await _run(directory) == "stopped"  # 3 of 6 trials done (test_budget)
    out = _plan(capsys, "--session", directory.name, "--sessions-dir", str(sessions))
    assert out["calibrated_from"] == 3
    assert out["trials"] == 3  # left
    assert out["llm_calls"] == 3  # one call per fake trial
    assert out["tokens"] == 3 * (PROMPT + COMPLETION)
    assert out["cost_usd"] == pytest.approx(3 * 1.1)
    assert not any("prior" in a for a in out["assumptions"])


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["plan"]) == 2
    assert "needs a sweep config" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "missing.toml")]) == 2
