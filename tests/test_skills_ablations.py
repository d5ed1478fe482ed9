"""Ablation arms from one config line, and the paired interval behind every marginal effect."""

from __future__ import annotations

import dataclasses

import pytest

from engine.config import ConfigError, parse_config
from engine.skills.ablations import ablation_arms, expand
from engine.skills.conditions import BuildOptions, build
from engine.skills.gates import GateResult
from engine.skills.mining import BlockCode, Provenance, pool
from engine.skills.paired import newcombe_paired, paired_difference
from engine.sweep.plan import plan_trials

BASE = """
[session]
trials_per_condition = 5
seed = 40
[[backbones]]
name = "syn"
[[conditions]]
name = "P21_a"
library = "none"
[[conditions]]
name = "C2"
library = "C2"
{line}
[skills]
mine_every = 0
"""


def _config(line: str):
    return parse_config(BASE.format(line=line))


def _skills(n: int):
    src = 'def skill_{i}(v, w):\n    """Skill {i}."""\n    x = v + w\n    return x * {i}\n'
    blocks = [
        BlockCode(src.format(i=i), Provenance(f"t{t}", 0, "syn", "C2", True))
        for i in range(n)
        for t in range(2)
    ]
    cands = pool(blocks)
    gates = {c.id: [GateResult("all", True, "ok")] for c in cands}
    return cands, gates


def test_leave_one_out_has_one_arm_per_skill_each_one_smaller_on_the_same_seeds() -> None:
    config = _config('ablate = "leave_one_out"')
    cands, gates = _skills(4)
    options = BuildOptions(c2_drop=0)
    library = build("C2", cands, gates, options)
    assert len(library) == 4
    expanded = expand(config, {"C2": tuple((s.id, s.name) for s in library)})
    arms = [c for c in expanded.conditions if c.ablation_of == "C2"]
    assert sorted(a.name for a in arms) == sorted(f"C2-minus-skill_{i}" for i in range(4))
    for arm in arms:
        skills = build(arm.library, cands, gates, dataclasses.replace(options, without=arm.without))
        assert len(skills) == 3
        assert arm.without not in {s.id for s in skills}
    # approving the left-out skill does not put it back into its own arm
    arm = arms[0]
    forced = build(
        "C2",
        cands,
        gates,
        dataclasses.replace(options, without=arm.without),
        forced_in=frozenset({arm.without}),
    )
    assert arm.without not in {s.id for s in forced}
    plans = plan_trials(expanded)
    assert len(plans) == 5 * (2 + 4)
    seeds: dict[str, list[int]] = {}
    for p in plans:
        seeds.setdefault(p.condition, []).append(p.seed)
    assert all(s == [40, 41, 42, 43, 44] for s in seeds.values())


def test_top_k_range_and_stubs() -> None:
    cands, gates = _skills(5)
    options = BuildOptions(c2_drop=0)
    library = tuple((s.id, s.name) for s in build("C2", cands, gates, options))
    arms = ablation_arms(_config('ablate = "top_k:2-4"').conditions[1], library)
    assert [(a.name, a.cut) for a in arms] == [("C2-k2", 2), ("C2-k3", 3), ("C2-k4", 4)]
    for a in arms:
        assert len(build("C2", cands, gates, dataclasses.replace(options, cut=a.cut))) == a.cut
    [stubs] = ablation_arms(_config('ablate = "stubs"').conditions[1], library)
    stubbed = build("C2", cands, gates, dataclasses.replace(options, stubbed=True))
    assert len(stubbed) == 5 and all(s.source.rstrip().endswith("pass") for s in stubbed)
    assert stubs.stubbed and stubs.name == "C2-stubs"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('ablate = "leave_two_out"', "must be leave_one_out, stubs or top_k:A-B"),
        ('ablate = "top_k:5-3"', "top_k range must be"),
    ],
)
def test_a_bad_ablation_line_is_one_error(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(line)


def test_ablating_a_library_that_changes_within_the_round_is_refused() -> None:
    text = BASE.format(line='ablate = "stubs"').replace("mine_every = 0", "mine_every = 5")
    with pytest.raises(ConfigError, match="mine_every = 0"):
        parse_config(text)
    with pytest.raises(ConfigError, match="only a mined library"):
        parse_config(
            BASE.format(line="").replace('library = "none"', 'library = "none"\nablate = "stubs"')
        )


def test_newcombe_paired_interval_matches_the_published_value() -> None:
    # Fagerland, Lydersen & Laake (2017), ch. 8, Cavo et al. (2012): [[59, 6], [16, 80]]:
    # estimate -0.0621, Newcombe square-and-add 95% CI -0.1186 to -0.0046
    diff, low, high = newcombe_paired(59, 6, 16, 80)
    assert (round(diff, 4), round(low, 4), round(high, 4)) == (-0.0621, -0.1186, -0.0046)


def test_paired_difference_counts_pairs_by_hand() -> None:
    pairs = [(True, False)] * 5 + [(True, True)] * 3 + [(False, True)]
    d = paired_difference(pairs)
    assert (d.both, d.only_with, d.only_without, d.neither) == (3, 5, 1, 0)
    assert d.rate_with == 8 / 9 and d.rate_without == 4 / 9
    assert d.mcnemar_p == pytest.approx(2 * (1 + 6) / 64)  # exact binomial, 1 of 6 discordant
    assert d.low < d.diff < d.high
    assert paired_difference([]).n_pairs == 0


class _Reader:
    """The two queries version_curve makes, answered from lists written here."""

    def __init__(self, versions: list[dict], trials: list[dict]) -> None:
        self.versions, self.rows = versions, trials

    def library_version_rows(self) -> list[dict]:
        return self.versions

    def trials(self, status: str | None = None) -> list[dict]:
        return self.rows


def test_learning_curve_per_library_version_with_size_and_churn() -> None:
    from engine.skills.evolution import version_curve

    def skills(*names: str) -> list[dict]:
        return [{"id": n, "name": n} for n in names]

    versions = [
        {"version": "C2-a", "skills": skills("f", "g")},
        {"version": "C2-b", "skills": skills("g", "h", "i")},
    ]
    outcomes = {"C2-a": [1, 0, 1], "C2-b": [1, 1, 1, 1]}
    trials = []
    index = 0
    for version, wins in outcomes.items():
        for won in wins:
            trials.append(
                {
                    "condition": "C2",
                    "library_version": version,
                    "round": 0,
                    "trial_index": index,
                    "final_success": won,
                }
            )
            index += 1
    trials.reverse()  # finishing order must not matter
    a, b = version_curve(_Reader(versions, trials))  # type: ignore[arg-type]
    assert (a.version, a.success.k, a.success.n, a.size, a.first_trial) == ("C2-a", 2, 3, 2, 0)
    assert (b.version, b.success.k, b.success.n, b.size) == ("C2-b", 4, 4, 3)
    assert (b.added, b.removed, b.churn) == (("h", "i"), ("f",), 3)
    assert b.success.low < 1.0 == b.success.high


def test_a_generated_library_without_sequence_mining_is_refused() -> None:
    text = BASE.format(line="").replace('library = "C2"', 'library = "generated"')
    with pytest.raises(ConfigError, match="skills.sequences = true"):
        parse_config(text)
    assert parse_config(text.replace("[skills]\n", "[skills]\nsequences = true\n"))
