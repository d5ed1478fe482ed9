"""Behavioural dedup on hand-written candidates: equal behaviour clusters, equal shape does not.

Every expectation below comes from reading the corpus (tests/corpora/behaviour_corpus.py), not
from the implementation: two functions that return the unit vector of their argument are the
same skill; a 10 cm and a 25 cm hover are not, though their ASTs differ only in a constant.
"""

from __future__ import annotations

import pytest

from engine.skills.behaviour import dedup_behavioural, fingerprint_all
from engine.skills.mining import BlockCode, Candidate, Provenance, pool
from engine.skills.quality import dedup_structural, structural_hash
from tests.corpora import behaviour_corpus as bc


def _pool(*sources: str) -> list[Candidate]:
    blocks = [BlockCode(s, Provenance(f"t{i}", 0, "b", "C2", True)) for i, s in enumerate(sources)]
    return pool(blocks)


@pytest.fixture(scope="module")
def candidates() -> dict[str, Candidate]:
    sources = [getattr(bc, n) for n in dir(bc) if n.isupper()]
    return {c.name: c for c in _pool(*sources)}


@pytest.fixture(scope="module")
def fingerprints(candidates):
    return fingerprint_all(candidates.values())


def _cluster_of(result, name: str) -> set[str]:
    for cluster in result.clusters:
        if name in cluster.names:
            return set(cluster.names)
    return {name}


def test_different_code_same_behaviour_cluster_with_the_reason(candidates, fingerprints) -> None:
    result = dedup_behavioural(list(candidates.values()), "first_seen", fingerprints)
    assert _cluster_of(result, "unit_vector") == {"unit_vector", "normalised"}
    assert _cluster_of(result, "move_above") == {"move_above", "hover_over"}
    # positional and keyword calls of the API are the same calls
    assert structural_hash(bc.ABOVE_POSITIONAL) != structural_hash(bc.ABOVE_KEYWORDS)
    cluster = next(c for c in result.clusters if "move_above" in c.names)
    assert "same API calls with the same arguments" in cluster.reason
    assert "solve_ik, move_to_joints" in cluster.reason
    survivors = {c.name for c in result.survivors}
    assert len(survivors & {"unit_vector", "normalised"}) == 1
    assert len(survivors & {"move_above", "hover_over"}) == 1


def test_same_shape_other_constants_stay_apart(candidates, fingerprints) -> None:
    # the case structural hashing gets wrong: it merges them
    assert structural_hash(bc.ABOVE_POSITIONAL) == structural_hash(bc.ABOVE_HIGHER)
    assert structural_hash(bc.SCALE_HALF) == structural_hash(bc.SCALE_DOUBLE)
    pair = [candidates["scaled"], candidates["doubled"]]
    assert len(dedup_structural(pair)) == 1
    result = dedup_behavioural(list(candidates.values()), "first_seen", fingerprints)
    assert "move_high_above" not in _cluster_of(result, "move_above")
    assert _cluster_of(result, "scaled") == {"scaled"}
    assert _cluster_of(result, "doubled") == {"doubled"}


def test_candidates_that_only_raise_are_never_merged(candidates, fingerprints) -> None:
    a, b = fingerprints[candidates["lookup_a"].id], fingerprints[candidates["lookup_b"].id]
    assert not a.informative and not b.informative
    assert all(text.startswith("raised KeyError") for text in a.cases)
    result = dedup_behavioural(list(candidates.values()), "first_seen", fingerprints)
    assert {"lookup_a", "lookup_b"} <= {c.name for c in result.survivors}


def test_survivor_rule_picks_the_documented_variant() -> None:
    undocumented = bc.UNIT_SQRT.replace('    """v scaled to length one."""\n', "")
    pool_ = _pool(undocumented, bc.UNIT_DIVIDE)
    first = dedup_behavioural(pool_, "first_seen")
    assert [c.name for c in first.survivors] == ["normalised"]
    documented = dedup_behavioural(pool_, "docstring_success_name")
    assert [c.name for c in documented.survivors] == ["unit_vector"]


def test_a_candidate_that_hangs_is_stopped_and_left_alone() -> None:
    hang = '''
def spin(v):
    """Never returns."""
    while True:
        v = v + 1
'''
    pool_ = _pool(hang, bc.UNIT_DIVIDE)
    fps = fingerprint_all(pool_, timeout_s=1.0)
    spin = next(c for c in pool_ if c.name == "spin")
    assert not fps[spin.id].informative and "limit" in fps[spin.id].error
    unit = next(c for c in pool_ if c.name == "unit_vector")
    assert fps[unit.id].informative  # the worker was restarted for the next candidate


def test_fingerprints_do_not_depend_on_the_order_candidates_are_probed_in(
    candidates, fingerprints
) -> None:
    # grasp_quaternion calls quat_from_matrix: the pool's library is seeded, so it resolves
    # to the same function whichever is probed first
    with_dependency = [*candidates.values(), *_pool(bc.CALLS_OTHER, bc.HELPER)]
    forward = fingerprint_all(with_dependency)
    backward = fingerprint_all(list(reversed(with_dependency)))
    assert {k: v.digest for k, v in forward.items()} == {k: v.digest for k, v in backward.items()}
    assert all(
        forward[c.id].digest == fp.digest
        for c in candidates.values()
        for fp in [fingerprints[c.id]]
    )
    caller = next(c for c in with_dependency if c.name == "unit_then_scale")
    assert forward[caller.id].informative
