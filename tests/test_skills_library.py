"""Quality, dedup strategies, condition builders, library versions and dependency order."""

from __future__ import annotations

from engine.skills import conditions as cond
from engine.skills import quality as q
from engine.skills.gates import GateConfig, run_gates
from engine.skills.library import dependency_order, snapshot
from engine.skills.mining import BlockCode, Provenance, pool
from tests.corpora import skills_corpus as K


def corpus():
    """quat (documented), its renamed undocumented twin, topdown, and a dependent skill."""
    spec = [
        (K.program(K.QUAT_DOC, K.TOPDOWN, K.PICK_QUAT), True),
        (K.program(K.QUAT_DOC, K.TOPDOWN, K.PICK_QUAT), True),
        (K.program(K.QUAT_RENAMED_NODOC), True),
        (K.program(K.QUAT_RENAMED_NODOC, K.TOPDOWN), False),
        (K.program(K.QUAT_DOC), True),
    ]
    blocks = [
        BlockCode(c, Provenance(f"t{i}", 0, "syn", "P21_a", ok)) for i, (c, ok) in enumerate(spec)
    ]
    cands = pool(blocks)
    lenient = GateConfig(min_occurrences=2)
    return cands, run_gates(cands, lenient)


def by_name(cands):
    return {c.name: c for c in cands}


def test_quality_score_follows_its_definition() -> None:
    cands, _ = corpus()
    quat = by_name(cands)["quat_from_matrix"]  # doc, 3/3 success, 3 trials, 7 lines
    assert q.quality(quat) == round(0.35 + 0.35 * 1.0 + 0.15 * 3 / 5 + 0.15 * 1.0, 4)
    twin = by_name(cands)["rotmat_to_quat"]  # no doc, 1/2 success, 2 trials
    assert q.quality(twin) == round(0.35 * 0.5 + 0.15 * 2 / 5 + 0.15, 4)


def test_structural_hash_ignores_names_constants_and_docstrings() -> None:
    assert q.structural_hash(K.QUAT_DOC) == q.structural_hash(K.QUAT_RENAMED_NODOC)
    assert q.structural_hash(K.QUAT_DOC) != q.structural_hash(K.TOPDOWN)


def test_dedup_survivor_rules_pick_different_survivors() -> None:
    cands, _ = corpus()
    twins = [c for c in cands if c.name in ("quat_from_matrix", "rotmat_to_quat")]
    twins.sort(key=lambda c: c.name, reverse=True)  # rotmat_to_quat first
    twins[0].first_seen, twins[1].first_seen = 0, 5  # the undocumented twin was met first
    first = q.dedup_structural(twins, "first_seen")
    proposed = q.dedup_structural(twins, "docstring_success_name")
    assert [c.name for c in first] == ["rotmat_to_quat"]
    assert [c.name for c in proposed] == ["quat_from_matrix"]


def test_condition_builders_from_one_pool() -> None:
    cands, gates = corpus()
    opts = cond.BuildOptions(quality_min=0.5, k=1)
    names = {c: [s.name for s in cond.build(c, cands, gates, opts)] for c in cond.MINED}
    assert names["C1"] == ["quat_from_matrix", "top_down_grasps", "grasp_quaternion"] or set(
        names["C1"]
    ) == {
        "quat_from_matrix",
        "top_down_grasps",
        "grasp_quaternion",
    }
    assert "rotmat_to_quat" not in names["C1"]  # no docstring: rejected by the gates
    assert set(names["C2"]) <= set(names["C1"])
    assert len(names["manual_k"]) == 1 and names["manual_k"][0] in names["C2"]
    empty = cond.build("empty_ns", cands, gates, opts)
    assert [s.name for s in empty] == names["C1"]
    for s in empty:
        assert s.source.rstrip().endswith("pass") and s.docstring in s.source
    assert cond.build("P21_a", cands, gates) == [] and cond.build("curated9", cands, gates) == []
    assert cond.canonical("quality_gated") == "C2" and cond.canonical("structural_dedup") == "C3v2"


def test_approve_and_veto_override_the_gates() -> None:
    cands, gates = corpus()
    twin = by_name(cands)["rotmat_to_quat"]
    quat = by_name(cands)["quat_from_matrix"]
    forced = cond.build(
        "C1", cands, gates, forced_in=frozenset({twin.id}), forced_out=frozenset({quat.id})
    )
    names = [s.name for s in forced]
    assert "rotmat_to_quat" in names and "quat_from_matrix" not in names


def test_library_versions_are_content_hashed_and_dependency_ordered() -> None:
    cands, gates = corpus()
    skills = cond.build("C1", cands, gates)
    lib = snapshot("C1", skills)
    again = snapshot("C1", list(reversed(skills)))
    assert lib.version.startswith("C1-") and lib.version != "none"
    order = [s.name for s in dependency_order(skills)]
    assert order.index("quat_from_matrix") < order.index("grasp_quaternion")
    assert lib.source.index("def quat_from_matrix") < lib.source.index("def grasp_quaternion")
    assert "grasp_quaternion(grasp)\n  Doc:\n    Quaternion [w, x, y, z]" in lib.docs
    assert snapshot("C1", skills).version == lib.version  # same content, same version
    assert again.docs != lib.docs or again.version == lib.version
    assert snapshot("C1", []).version == "none"
