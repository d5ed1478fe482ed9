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


def _family(n: int) -> list:
    """``n`` documented, general skills (skill_i), skill_i appearing in i+1 trials of which the
    first i succeed: distinct qualities, every gate passed. Plus a same-name twin of skill_0
    that is worse (fails its trial), and so must never fill a slot of its own."""
    blocks = []
    for i in range(n):
        body = (
            f'def skill_{i}(x):\n    """Scale x by {i + 1}."""\n    y = x * {i + 1}\n    return y\n'
        )
        for t in range(i + 1):
            blocks.append(BlockCode(body, Provenance(f"s{i}-{t}", 0, "syn", "P21_a", t < i)))
    twin = 'def skill_0(x):\n    """Scale x, another way."""\n    z = x + 0\n    return z\n'
    blocks.append(BlockCode(twin, Provenance("twin", 0, "syn", "P21_a", False)))
    cands = pool(blocks)
    return cands, run_gates(cands, GateConfig(min_occurrences=1, min_success_rate=0.0))


def test_condition_sizes_follow_their_definitions() -> None:
    """C1 = all gated (one per name), C2 = C1 minus its 2 lowest, manual_k = exactly k."""
    cands, gates = _family(16)
    c1 = [s.name for s in cond.build("C1", cands, gates)]
    assert len(c1) == 16 and len(set(c1)) == 16  # the twin of skill_0 does not add a name
    # quality by its definition: skill_i has a docstring, success i/(i+1), i+1 trials, 4 lines
    expected = {
        f"skill_{i}": round(0.35 + 0.35 * (i / (i + 1)) + 0.15 * min((i + 1) / 5, 1) + 0.15, 4)
        for i in range(16)
    }
    lowest_two = sorted(expected, key=lambda name: (expected[name], name))[:2]
    c2 = [s.name for s in cond.build("C2", cands, gates)]
    assert len(c2) == 14 and set(c1) - set(c2) == set(lowest_two)
    for k in (2, 10, 14):
        top = cond.build("manual_k", cands, gates, cond.BuildOptions(k=k))
        assert len(top) == k
        best = sorted(expected, key=lambda name: (-expected[name], name))[:k]
        assert {s.name for s in top} == set(best)
    bigger = cond.build("manual_k", cands, gates, cond.BuildOptions(k=20))
    assert len(bigger) == 14  # C2 has only 14
    threshold = cond.build("C2", cands, gates, cond.BuildOptions(c2_drop=0, quality_min=0.9))
    assert {s.name for s in threshold} == {n for n, v in expected.items() if v >= 0.9}
    assert 0 < len(threshold) < 16  # a threshold that can bite


def test_saturation_counts_defs_per_block_of_library_arms(tmp_path) -> None:
    """Two C1 blocks with 3 and 1 top-level defs: 2.0 per block; P21_a is not a library arm."""
    from engine.sandbox.result import ExecResult
    from engine.skills.saturation import defs_per_block, saturated
    from engine.trial.records import BlockRecord, TrialRecord
    from tests.sweep_helpers import begin_run, new_session

    writer = new_session(tmp_path / "s.db")
    codes = {
        "C1": [
            "def a():\n    pass\ndef b():\n    pass\ndef c():\n    pass\n",
            "def d():\n    x = 1\n",
        ],
        "P21_a": ["def e():\n    pass\n", "print(1)\n"],
    }
    for i, (condition, blocks) in enumerate(codes.items()):
        key = f"r0/{condition}/syn/0000"
        run = begin_run(writer, key, index=i, condition=condition)
        for idx, code in enumerate(blocks):
            block = BlockRecord(idx, "initial", "p", "r", code=code, result=ExecResult(ok=True))
            writer.add_block(run, key, block)
        writer.finish_run(run, TrialRecord(key, "cube_lift", 0, "synthetic", "m", True))
    rates = defs_per_block(writer.reader, 0, {"C1": "C1", "P21_a": "none"})
    writer.close()
    assert rates == {("C1", "syn"): 2.0}
    assert saturated({("C1", "syn"): 0.5}, rates, 0.25) and not saturated(
        {("C1", "syn"): 0.6}, rates, 0.25
    )
