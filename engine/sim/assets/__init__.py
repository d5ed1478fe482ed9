"""The Franka Panda arm and gripper model files, shipped inside autocapx.

``panda/`` holds the MJCF files and meshes the scene is built from: robosuite 1.5.2's Panda
files (MIT licence), vendored by ``python -m engine.sim.assets.vendor`` with the visual meshes
converted from text OBJ to MuJoCo's binary MSH (the same vertices, normals and faces; see
``panda/README.md``). Nothing besides autocapx has to be installed for the simulator.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import UserError

ROBOSUITE_VERSION = "1.5.2"
"""The robosuite release the files in ``panda/`` come from."""

PANDA_DIR = Path(__file__).resolve().parent / "panda"
"""The packaged folder (robosuite's ``models/assets`` layout)."""

ROBOT_XML = "robots/panda/robot.xml"
GRIPPER_XML = "grippers/panda_gripper.xml"
MANIFEST = "MANIFEST.sha256"
"""sha256 of every other file in ``panda/`` (``sha256sum -c`` format), written by the vendor script."""

REQUIRED_FILES: tuple[str, ...] = (
    "robots/panda/robot.xml",
    "robots/panda/meshes/link0.stl",
    "robots/panda/meshes/link1.stl",
    "robots/panda/meshes/link2.stl",
    "robots/panda/meshes/link3.stl",
    "robots/panda/meshes/link4.stl",
    "robots/panda/meshes/link5.stl",
    "robots/panda/meshes/link6.stl",
    "robots/panda/meshes/link7.stl",
    "robots/panda/obj_meshes/link0_vis/link0_vis_0.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_1.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_2.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_3.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_4.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_5.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_6.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_7.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_8.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_9.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_10.msh",
    "robots/panda/obj_meshes/link0_vis/link0_vis_11.msh",
    "robots/panda/obj_meshes/link1_vis/link1_vis.msh",
    "robots/panda/obj_meshes/link2_vis/link2_vis.msh",
    "robots/panda/obj_meshes/link3_vis/link3_vis_0.msh",
    "robots/panda/obj_meshes/link3_vis/link3_vis_1.msh",
    "robots/panda/obj_meshes/link3_vis/link3_vis_2.msh",
    "robots/panda/obj_meshes/link3_vis/link3_vis_3.msh",
    "robots/panda/obj_meshes/link4_vis/link4_vis_0.msh",
    "robots/panda/obj_meshes/link4_vis/link4_vis_1.msh",
    "robots/panda/obj_meshes/link4_vis/link4_vis_2.msh",
    "robots/panda/obj_meshes/link4_vis/link4_vis_3.msh",
    "robots/panda/obj_meshes/link5_vis/link5_vis_0.msh",
    "robots/panda/obj_meshes/link5_vis/link5_vis_1.msh",
    "robots/panda/obj_meshes/link5_vis/link5_vis_2.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_0.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_1.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_2.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_3.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_4.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_5.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_6.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_7.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_8.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_9.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_10.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_11.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_12.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_13.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_14.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_15.msh",
    "robots/panda/obj_meshes/link6_vis/link6_vis_16.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_0.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_1.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_2.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_3.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_4.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_5.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_6.msh",
    "robots/panda/obj_meshes/link7_vis/link7_vis_7.msh",
    "grippers/panda_gripper.xml",
    "grippers/meshes/panda_gripper/hand.stl",
    "grippers/meshes/panda_gripper/hand_vis.stl",
    "grippers/meshes/panda_gripper/finger.stl",
    "grippers/meshes/panda_gripper/finger_vis.stl",
    "grippers/meshes/panda_gripper/finger_longer.stl",
)
"""Every file the scene loads, relative to :func:`panda_assets_dir`: the two MJCF files and
the meshes they reference, in the order they reference them."""

REINSTALL_HINT = "pip install --force-reinstall --no-deps autocapx"


def panda_assets_dir() -> Path:
    """The folder holding the Panda model files (its layout is robosuite's ``models/assets``)."""
    return PANDA_DIR


def check_assets() -> Path:
    """Check that every file in :data:`REQUIRED_FILES` is present (file checks only, no parsing:
    cheap enough to run before a session is created) and return :func:`panda_assets_dir`.

    Raises a one-line :class:`UserError` naming the first missing file."""
    root = panda_assets_dir()
    for rel in REQUIRED_FILES:
        if not (root / rel).is_file():
            raise UserError(
                f"the Panda model file {root / rel} is missing: the autocapx installation is "
                f"incomplete, reinstall it (`{REINSTALL_HINT}`)"
            )
    return root
