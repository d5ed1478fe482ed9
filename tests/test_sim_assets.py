"""The Panda model files shipped in ``engine/sim/assets/panda/``: complete, unchanged since the
vendor script wrote them, and compiling to the same model as robosuite's original files.

The comparison with robosuite's files runs only where robosuite 1.5.2's files are installed
(``pip install --no-deps robosuite==1.5.2``); it is located, never imported (its Python does not
run on mujoco 4, and ``import robosuite`` fails without its dependencies anyway).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest

from engine.errors import UserError
from engine.sim import assets, scene
from engine.sim.assets import vendor
from engine.sim.tasks import get_task

# Measured on the scene compiled from robosuite 1.5.2's ORIGINAL files (OBJ visual meshes),
# an independent check of the vendored ones: 8 arm collision STLs + 50 arm visual meshes + 5
# gripper STLs. Every mesh is compiled, with visual meshes on or off.
N_MESH = 63
N_MESH_VERT = 329081
N_MESH_FACE = 148904
N_MESH_NORMAL = 329081
SUM_ABS_MESH_VERT = 33516.52220293943
SUM_ABS_MESH_NORMAL = 476379.47337131074
N_GEOM = {True: 74, False: 21}  # cube_lift, with and without visual meshes

# What dropping the OBJ texcoords changes in the compiled model (and nothing else may).
TEXCOORD_FIELDS = {"mesh_texcoord", "mesh_texcoordadr", "mesh_texcoordnum", "mesh_facetexcoord"}
PATH_FIELDS = {"mesh_pathadr"}  # where each mesh's file name starts in the model's path buffer


def model_arrays(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    found = {}
    for name in dir(model):
        if not name.startswith("_"):
            value = getattr(model, name)
            if isinstance(value, np.ndarray):
                found[name] = value
    return found


def robosuite_assets() -> Path:
    try:
        root = vendor.find_robosuite_assets()
    except vendor.VendorError:
        pytest.skip("robosuite's model files are not installed")
    if vendor.robosuite_version(root) != assets.ROBOSUITE_VERSION:
        pytest.skip(f"robosuite is not {assets.ROBOSUITE_VERSION}")
    return root


def build(task: str, *, visual: bool = True, root: Path | None = None) -> mujoco.MjModel:
    """Compile ``task``'s scene from the packaged files, or from the assets folder ``root``."""
    original = scene.check_assets
    if root is not None:
        scene.check_assets = lambda: root
    try:
        return scene.build_scene(get_task(task), visual_meshes=visual).model
    finally:
        scene.check_assets = original


# ------------------------------------------------------------------ the packaged files
def test_check_assets_finds_every_packaged_file() -> None:
    assert assets.check_assets() == assets.panda_assets_dir() == assets.PANDA_DIR
    assert all((assets.PANDA_DIR / rel).is_file() for rel in assets.REQUIRED_FILES)


def test_manifest_matches_the_files() -> None:
    folder = assets.PANDA_DIR
    listed = {}
    for line in (folder / assets.MANIFEST).read_text().splitlines():
        digest, rel = line.split("  ", 1)
        listed[rel] = digest
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {assets.MANIFEST}
    assert set(listed) == {*assets.REQUIRED_FILES, "LICENSE", "README.md"}
    changed = [
        rel
        for rel, digest in listed.items()
        if hashlib.sha256((folder / rel).read_bytes()).hexdigest() != digest
    ]
    assert changed == [], f"edited since `python -m engine.sim.assets.vendor` wrote them: {changed}"


def test_the_model_files_reference_exactly_the_required_meshes() -> None:
    referenced = []
    for xml in (assets.ROBOT_XML, assets.GRIPPER_XML):
        referenced.append(xml)
        folder = Path(xml).parent
        root = ET.parse(assets.PANDA_DIR / xml).getroot()
        referenced += [(folder / el.attrib["file"]).as_posix() for el in root.iter("mesh")]
    assert referenced == list(assets.REQUIRED_FILES)
    assert not [r for r in referenced if r.endswith(".obj")]
    assert "MIT License" in (assets.PANDA_DIR / "LICENSE").read_text()


def test_msh_files_hold_vertices_normals_faces_and_no_texcoords() -> None:
    for rel in assets.REQUIRED_FILES:
        if rel.endswith(".msh"):
            verts, normals, texcoords, faces = vendor.read_msh(
                (assets.PANDA_DIR / rel).read_bytes()
            )
            assert len(verts) == len(normals) > 0 and len(texcoords) == 0, rel
            assert faces.min() >= 0 and faces.max() < len(verts), rel


@pytest.mark.parametrize("visual", [True, False])
def test_compiled_scene_has_the_measured_meshes(visual: bool) -> None:
    model = build("cube_lift", visual=visual)
    assert (model.nmesh, model.nmeshvert, model.nmeshface, model.nmeshnormal) == (
        N_MESH,
        N_MESH_VERT,
        N_MESH_FACE,
        N_MESH_NORMAL,
    )
    assert model.nmeshtexcoord == 0  # dropped: the robot has no textures
    assert model.ngeom == N_GEOM[visual]
    assert np.abs(model.mesh_vert.astype(np.float64)).sum() == pytest.approx(SUM_ABS_MESH_VERT)
    assert np.abs(model.mesh_normal.astype(np.float64)).sum() == pytest.approx(SUM_ABS_MESH_NORMAL)


# ------------------------------------------------------------------ a missing file
def test_check_assets_names_a_missing_file_in_one_line(tmp_path, monkeypatch) -> None:
    missing = "robots/panda/obj_meshes/link3_vis/link3_vis_2.msh"
    for rel in assets.REQUIRED_FILES:
        if rel != missing:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_bytes(b"")  # check_assets looks at presence only
    monkeypatch.setattr(assets, "PANDA_DIR", tmp_path)
    with pytest.raises(UserError) as err:
        assets.check_assets()
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / missing) in message
    assert "reinstall" in message and "autocapx" in message
    with pytest.raises(UserError, match="link3_vis_2.msh"):
        scene.build_scene(get_task("cube_lift"), visual_meshes=False)


# ------------------------------------------------------------------ the vendor script
OBJ_HEAD = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n" + "vn 0 0 1\n" * 4 + "vt 0 0\n" * 4


@pytest.mark.parametrize(
    "text",
    [
        OBJ_HEAD + "f 1/1/1 2/2/2 4/4/4 3/3/3\n",  # a quad
        OBJ_HEAD + "f 1/1/1 2/2/2 3/3/4\n",  # a normal index that is not the vertex's
        OBJ_HEAD + "f 1//1 2//2 3//3\n",  # no texcoord index
        OBJ_HEAD + "f 1 2 3\n",  # no normal index
        OBJ_HEAD + "f -1/-1/-1 -2/-2/-2 -3/-3/-3\n",  # relative indices
        OBJ_HEAD.replace("vn 0 0 1\n", "", 1) + "f 1/1/1 2/2/2 3/3/3\n",  # fewer normals
        OBJ_HEAD + "f 1/1/1 2/2/2 3/3/3\nl 1 2\n",  # a statement MuJoCo might read
    ],
)
def test_vendor_refuses_obj_files_it_cannot_convert_exactly(tmp_path, text: str) -> None:
    path = tmp_path / "mesh.obj"
    path.write_text(text)
    with pytest.raises(vendor.VendorError, match="mesh.obj"):
        vendor.read_obj(path)


def test_vendor_converts_a_triangle_obj_to_msh(tmp_path) -> None:
    path = tmp_path / "mesh.obj"
    path.write_text(
        "mtllib m.mtl\nusemtl m\n" + OBJ_HEAD + "f 1/1/1 2/2/2 3/3/3\nf 2/2/2 4/4/4 3/3/3\n"
    )
    verts, normals, faces = vendor.read_obj(path)
    assert faces.tolist() == [[0, 1, 2], [1, 3, 2]]
    got = vendor.read_msh(vendor.msh_bytes(verts, normals, faces))
    assert [a.tolist() for a in got] == [verts.tolist(), normals.tolist(), [], faces.tolist()]


# ------------------------------------------------------------------ against robosuite's files
def test_vendor_script_reproduces_the_packaged_files(tmp_path) -> None:
    source = robosuite_assets()
    vendor.build(source, tmp_path)
    assert (tmp_path / assets.MANIFEST).read_bytes() == (
        assets.PANDA_DIR / assets.MANIFEST
    ).read_bytes()


@pytest.mark.parametrize("task", ["cube_lift", "cube_stack"])
def test_vendored_scene_compiles_to_robosuite_files_scene(task: str) -> None:
    source = robosuite_assets()
    original = model_arrays(build(task, root=source))
    vendored = model_arrays(build(task))
    assert original.keys() == vendored.keys()
    differ = [n for n in original if not np.array_equal(original[n], vendored[n])]
    assert set(differ) <= TEXCOORD_FIELDS | PATH_FIELDS, differ
    for name in ("mesh_vert", "mesh_normal", "mesh_face", "mesh_facenormal", "geom_pos"):
        assert np.array_equal(original[name], vendored[name]), name
    for name in ("geom_quat", "body_mass", "body_inertia", "body_ipos", "body_iquat"):
        assert np.array_equal(original[name], vendored[name]), name


def test_vendored_scene_renders_like_robosuite_files_scene(monkeypatch) -> None:
    from engine.sim.simulator import SimConfig, Simulator

    source = robosuite_assets()
    frames = []
    for check in (lambda: source, assets.check_assets):
        monkeypatch.setattr(scene, "check_assets", check)
        sim = Simulator(SimConfig(task="cube_lift", quality="full"), seed=3)
        try:
            frames.append(sim.render(size=128))
        finally:
            sim.close()
    a, b = frames
    assert np.array_equal(a.rgb, b.rgb)
    assert np.array_equal(a.depth, b.depth)
    assert np.array_equal(a.segmentation, b.segmentation)


def test_a_missing_model_file_is_found_before_a_session_is_created(
    tmp_path, monkeypatch, capsys
) -> None:
    import shutil

    from engine import sim
    from engine.cli import main
    from engine.sim import assets
    from tests.sweep_helpers import write_config

    broken = tmp_path / "panda"
    shutil.copytree(assets.PANDA_DIR, broken)
    (broken / "grippers" / "panda_gripper.xml").unlink()
    monkeypatch.setattr(assets, "PANDA_DIR", broken)
    assert sim  # the package imports; only a file is missing
    sessions = tmp_path / "sessions"
    code = main(
        ["run", str(write_config(tmp_path / "s.toml", n=1)), "--sessions-dir", str(sessions)]
    )
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "panda_gripper.xml is missing" in err, err
    assert not sessions.exists() or not any(sessions.iterdir()), "no session was created"
