"""The pre-registered plan's verdicts, worked out by hand, and stop_when = "decided"."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.config import load_config
from engine.stats.analysis import AnalysisPlan, settled_arms, verdict
from engine.stats.paired import Outcome
from engine.sweep.session import create_session
from tests.sweep_helpers import query
from tests.test_budget import _config, _run


def _outcomes(b: int, c: int, both: int, neither: int, backbone: str = "x") -> list[Outcome]:
    cells = [(True, False)] * b + [(False, True)] * c + [(True, True)] * both
    cells += [(False, False)] * neither
    out = []
    for seed, (a, r) in enumerate(cells):
        out += [Outcome("A", backbone, 0, seed, a), Outcome("ref", backbone, 0, seed, r)]
    return out


def _plan(**kw) -> AnalysisPlan:
    return AnalysisPlan(reference="ref", contrasts=("A",), **kw)


def test_better_worse_equivalent_and_not_shown_in_words() -> None:
    v = verdict(_outcomes(10, 0, 5, 5), _plan(), "A", "x")
    assert v is not None and v.verdict == "better"
    assert v.p_value == pytest.approx(2 / 1024)  # b ~ Binomial(10, 1/2): 2 * 2^-10
    assert v.words.startswith("A is BETTER than ref on x: +50.0 points")
    w = verdict(_outcomes(0, 10, 5, 5), _plan(), "A", "x")
    assert w is not None and w.verdict == "worse" and "WORSE" in w.words
    # 2 and 2 of 100 pairs: Agresti-Min 90% is 0 +- 1.645 sqrt(5) / 102 = +-3.6 points
    e = verdict(_outcomes(2, 2, 48, 48), _plan(margin=0.1), "A", "x")
    assert e is not None and e.verdict == "equivalent"
    assert e.high == pytest.approx(1.6448536 * math.sqrt(5) / 102, rel=1e-6)
    assert "EQUIVALENT to ref on x within ±10 points" in e.words
    n = verdict(_outcomes(2, 2, 48, 48), _plan(), "A", "x")
    assert n is not None and n.verdict == "not shown"
    assert (
        "no margin was pre-registered" in n.words and "not evidence that they are equal" in n.words
    )
    assert verdict(_outcomes(2, 2, 48, 48), _plan(), "A", "elsewhere") is None


def test_the_anytime_verdict_is_more_cautious_than_the_fixed_n_one() -> None:
    outcomes = _outcomes(10, 2, 14, 14)  # McNemar p = 0.0386 at this n
    assert verdict(outcomes, _plan(), "A", "x").verdict == "better"  # type: ignore[union-attr]
    anytime = verdict(outcomes, _plan(stop_when="decided"), "A", "x")
    assert anytime is not None and anytime.verdict == "not shown"
    assert anytime.method.startswith("confidence sequence")


def test_settled_arms() -> None:
    plan = _plan(stop_when="decided")
    # b wins of b discordant pairs: M_n(1/2) = 2^b / (b + 1) >= 20 first at b = 8
    assert settled_arms(_outcomes(7, 0, 0, 0), plan, ["x"]) == set()
    assert settled_arms(_outcomes(8, 0, 0, 0), plan, ["x"]) == {("A", "x", 0), ("ref", "x", 0)}
    assert settled_arms(_outcomes(8, 0, 0, 0), _plan(), ["x"]) == set(), "never: no stopping"


async def test_stop_when_decided_stops_the_arms_once_settled(tmp_path: Path) -> None:
    file = _config(
        tmp_path / "s.toml", analysis='\n[analysis]\nreference = "ref"\nstop_when = "decided"'
    )
    file.write_text(
        file.read_text().replace("trials_per_condition = 3", "trials_per_condition = 30")
    )
    directory = create_session(load_config(file), tmp_path / "sessions", file)
    rule = lambda cond, seed: cond == "A"  # noqa: E731 - A always wins its pair
    assert await _run(directory, rule=rule) == "finished"
    db = directory / "session.db"
    # decided after 8 pairs (above); concurrency 1, so nothing else was in flight
    assert query(db, "SELECT COUNT(*) FROM trials") == [(16,)]
    settled = query(
        db,
        "SELECT json_extract(data_json, '$.condition'), json_extract(data_json, '$.n') "
        "FROM events WHERE kind = 'arm_settled' ORDER BY 1",
    )
    assert settled == [("A", 8), ("ref", 8)]
    assert await _run(directory, rule=rule) == "finished"  # a resume keeps them settled
    assert query(db, "SELECT COUNT(*) FROM trials") == [(16,)]


async def test_report_and_stats_session_show_the_plan_pairs_and_spend(
    tmp_path: Path, capsys
) -> None:
    import json

    from engine.cli import main
    from engine.stats.report import write_report
    from engine.stats.sequential import confidence_sequence

    plan = '\n[analysis]\nreference = "ref"\nmargin = 0.2'
    file = _config(tmp_path / "s.toml", analysis=plan, session="max_cost_usd = 100")
    file.write_text(
        file.read_text().replace("trials_per_condition = 3", "trials_per_condition = 30")
    )
    sessions = tmp_path / "sessions"
    directory = create_session(load_config(file), sessions, file)
    assert await _run(directory) == "finished"
    # by hand over seeds 0..29: A wins on even seeds (15), ref on multiples of 3 (10),
    # both on multiples of 6 (5): b = 10, c = 5, neither = 10; McNemar p = P(|X - 7.5| >= 2.5)
    text = write_report(directory / "session.db", tmp_path / "report").read_text()
    assert text.index("## Pre-registered analysis plan") < text.index("## Success on the final")
    assert "- reference: ref; contrasts: A" in text
    assert "NOT SHOWN on x: A vs ref differs by +16.7 points" in text
    assert "| A | ref | x | 0 | 30 | 5 | 10 | 5 | 10 | +16.7 |" in text
    assert "| session | 60 | 66,000 | 66.0000 | 100.0 | - | within budget |" in text
    assert (tmp_path / "report" / "sequences.png").stat().st_size > 5000
    assert (
        main(["stats", "session", directory.name, "--sessions-dir", str(sessions), "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    arms = {a["condition"]: a for a in out["arms"]}
    assert arms["A"]["cost_per_success_usd"] == pytest.approx(30 * 1.1 / 15)
    cs = confidence_sequence(15, 30, 0.05)
    assert (arms["A"]["cs_low"], arms["A"]["cs_high"]) == (cs.low, cs.high)
    (contrast,) = out["contrasts"]
    assert (contrast["paired"]["test"]["b"], contrast["paired"]["test"]["c"]) == (10, 5)
    assert contrast["paired"]["test"]["p_exact_two_sided"] == pytest.approx(
        2 * sum(math.comb(15, k) for k in range(6)) / 2**15
    )
    assert out["verdicts"][0]["verdict"] == "not shown"
    assert out["spend"][-1]["cost_usd"] == pytest.approx(66.0)
