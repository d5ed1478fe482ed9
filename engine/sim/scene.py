"""Compose the MuJoCo model: floor, table, a mounted Franka Panda with its gripper, the task's cubes, the camera.

The arm's torque motors from the asset file are turned into joint position servos with gravity
compensation, so a control step is "set 7 targets, call ``mj_step`` 25 times" with no Python in
the physics loop (that is what keeps our step cost next to raw ``mj_step``).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from engine.sim.assets import GRIPPER_XML, ROBOT_XML, check_assets
from engine.sim.tasks.base import TABLE_HALF, TABLE_TOP_Z, Task
from engine.world import MAX_CAMERA_SIZE

ROBOT_BASE_POS = (-0.56, 0.0, 0.912)
"""World position of the arm base: ``solve_ik`` targets are relative to it (CaP-X's pyroki root)."""
MOUNT_OFFSET_Z = 0.010
"""The robot mount body sits 1 cm above the arm base. CaP-X's ``pose_mat`` (and the robot state
it reports) is relative to the mount while its IK targets are relative to the arm base, so a
point deprojected through ``pose_mat`` and handed to ``solve_ik`` lands 1 cm low; CaP-X programs
carry that offset and so do programs here."""

CAMERA_NAME = "robot0_robotview"
ARM_JOINTS = tuple(f"robot0_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("robot0_gripper0_finger_joint1", "robot0_gripper0_finger_joint2")
TCP_SITE = "robot0_tcp"
TCP_OFFSET = 0.107
"""Tool centre point: between the fingertips, 0.107 m along the hand's z axis. The TCP frame is
the hand's (CaP-X's ``panda_hand``): z = approach, the fingers slide along its y."""

# Position-servo gains per arm joint (N m / rad); damping from a damping ratio of 1.
ARM_KP = (1200.0, 1200.0, 1000.0, 1000.0, 500.0, 300.0, 150.0)
ARM_ARMATURE = 0.1

VISUAL_GROUP = 1  # robot visual meshes (asset convention)
COLLISION_GROUP = 0  # robot collision meshes (asset convention)
SCENE_GROUP = 2  # our own geoms: table, cubes, floor


@dataclass(frozen=True)
class SceneModel:
    """A compiled model plus the ids the simulator needs, looked up once."""

    model: mujoco.MjModel
    arm_qpos: np.ndarray
    arm_dof: np.ndarray
    arm_act: np.ndarray
    finger_qpos: np.ndarray
    finger_act: np.ndarray
    tcp_site: int
    camera: int
    object_body: dict[str, int]
    object_geom: dict[str, int]
    object_qpos: dict[str, int]
    gripper_geoms: frozenset[int]
    pad_geoms: tuple[int, int]
    table_geom: int
    base_pos: np.ndarray
    """World position of the arm base (the frame of IK targets)."""
    mount_pos: np.ndarray
    """World position of the robot mount (the frame of ``pose_mat`` and reported robot state)."""


def _add_arena(spec: mujoco.MjSpec) -> None:
    spec.option.timestep = 0.002
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    spec.visual.global_.offwidth = MAX_CAMERA_SIZE
    spec.visual.global_.offheight = MAX_CAMERA_SIZE
    tex = spec.add_texture(
        name="floor_tex",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.30, 0.32, 0.35],
        rgb2=[0.25, 0.27, 0.30],
        width=256,
        height=256,
    )
    mat = spec.add_material(name="floor_mat", texrepeat=[6, 6], reflectance=0.05)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    world = spec.worldbody
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[3, 3, 0.05],
        material="floor_mat",
        group=SCENE_GROUP,
    )
    world.add_light(name="key", pos=[0.4, -0.6, 2.4], dir=[-0.2, 0.3, -1], castshadow=True)
    world.add_light(name="fill", pos=[-0.6, 0.8, 2.0], dir=[0.3, -0.4, -1], castshadow=False)
    table = world.add_body(name="table", pos=[0, 0, TABLE_TOP_Z])
    table.add_geom(
        name="table_top",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[TABLE_HALF, TABLE_HALF, 0.025],
        pos=[0, 0, -0.025],
        rgba=[0.62, 0.52, 0.40, 1],
        friction=[1.0, 0.005, 0.0001],
        group=SCENE_GROUP,
    )
    for sx in (-1, 1):
        for sy in (-1, 1):
            table.add_geom(
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[0.025, 0.025, (TABLE_TOP_Z - 0.05) / 2],
                pos=[sx * (TABLE_HALF - 0.05), sy * (TABLE_HALF - 0.05), -(TABLE_TOP_Z + 0.05) / 2],
                rgba=[0.45, 0.38, 0.30, 1],
                contype=0,
                conaffinity=0,
                group=SCENE_GROUP,
            )
    # Pedestal under the robot base (visual only; the base is welded to the world).
    height = ROBOT_BASE_POS[2]
    world.add_geom(
        name="pedestal",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.11, 0.11, height / 2 - 0.002],
        pos=[ROBOT_BASE_POS[0] - 0.04, 0, height / 2 - 0.002],
        rgba=[0.2, 0.2, 0.22, 1],
        contype=0,
        conaffinity=0,
        group=SCENE_GROUP,
    )


def _add_robot(spec: mujoco.MjSpec, visual_meshes: bool) -> None:
    assets = check_assets()
    robot = mujoco.MjSpec.from_file(str(assets / ROBOT_XML))
    gripper = mujoco.MjSpec.from_file(str(assets / GRIPPER_XML))
    if not visual_meshes:
        for s in (robot, gripper):
            for geom in list(s.geoms):
                if geom.contype == 0 and geom.conaffinity == 0 and geom.group == VISUAL_GROUP:
                    s.delete(geom)
    # The TCP: between the fingertips, 0.107 m along the hand's z, oriented like the hand
    # (robosuite's right_hand = CaP-X's panda_hand; its fingers slide along the hand's y).
    robot.body("right_hand").add_site(
        name="tcp", pos=[0, 0, TCP_OFFSET], size=[0.004, 0, 0], rgba=[0, 1, 0, 0], group=3
    )
    mount = robot.body("right_hand").add_site(name="gripper_mount")
    mount.attach_body(gripper.body("right_gripper"), "gripper0_", "")
    frame = spec.worldbody.add_frame(pos=list(ROBOT_BASE_POS))
    frame.attach_body(robot.body("base"), "robot0_", "")


def _servo_arm(spec: mujoco.MjSpec) -> None:
    """Replace the arm's torque motors by position servos with the same torque limits."""
    for i, joint_name in enumerate(ARM_JOINTS):
        joint = spec.joint(joint_name)
        joint.armature = ARM_ARMATURE
        act = spec.actuator(f"robot0_torq_j{i + 1}")
        limit = float(act.ctrlrange[1])
        act.set_to_position(kp=ARM_KP[i], dampratio=1.0)
        act.ctrlrange = joint.range
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-limit, limit]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for body in spec.bodies:
        if body.name.startswith("robot0_"):
            body.gravcomp = 1.0


def _add_objects(spec: mujoco.MjSpec, task: Task) -> None:
    for obj in task.objects:
        half = obj.half_size_range[1]
        body = spec.worldbody.add_body(name=obj.name, pos=[0, 0, TABLE_TOP_Z + half])
        body.add_freejoint(name=f"{obj.name}_joint")
        body.add_geom(
            name=f"{obj.name}_geom",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[half, half, half],
            rgba=list(obj.rgba),
            density=obj.density,
            friction=[1.0, 0.005, 0.0001],
            condim=4,
            group=SCENE_GROUP,
        )


def build_scene(task: Task, *, visual_meshes: bool = True, shadows: bool = True) -> SceneModel:
    """Compile the scene for ``task``; ``visual_meshes=False`` keeps only collision geometry (fast, for CI)."""
    spec = mujoco.MjSpec()
    spec.modelname = f"autocapx_{task.name}"
    _add_arena(spec)
    _add_robot(spec, visual_meshes)
    _servo_arm(spec)
    _add_objects(spec, task)
    spec.visual.quality.shadowsize = 2048 if shadows else 0
    spec.visual.quality.offsamples = 4 if shadows else 0
    model = spec.compile()
    return _index(model, task)


def _index(model: mujoco.MjModel, task: Task) -> SceneModel:
    def jid(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

    def aid(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name)

    arm_j = [jid(n) for n in ARM_JOINTS]
    finger_j = [jid(n) for n in FINGER_JOINTS]
    gripper_root = mujoco.mj_name2id(
        model, mujoco.mjtObj.mjOBJ_BODY, "robot0_gripper0_right_gripper"
    )
    gripper_bodies = {b for b in range(model.nbody) if _is_descendant(model, b, gripper_root)}
    gripper_geoms = frozenset(
        g for g in range(model.ngeom) if model.geom_bodyid[g] in gripper_bodies
    )
    pads = tuple(
        mujoco.mj_name2id(
            model, mujoco.mjtObj.mjOBJ_GEOM, f"robot0_gripper0_finger{i}_pad_collision"
        )
        for i in (1, 2)
    )
    names = [o.name for o in task.objects]
    return SceneModel(
        model=model,
        arm_qpos=np.array([model.jnt_qposadr[j] for j in arm_j]),
        arm_dof=np.array([model.jnt_dofadr[j] for j in arm_j]),
        arm_act=np.array([aid(f"robot0_torq_j{i}") for i in range(1, 8)]),
        finger_qpos=np.array([model.jnt_qposadr[j] for j in finger_j]),
        finger_act=np.array([aid(f"robot0_gripper0_gripper_finger_joint{i}") for i in (1, 2)]),
        tcp_site=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE),
        camera=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA_NAME),
        object_body={n: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in names},
        object_geom={
            n: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{n}_geom") for n in names
        },
        object_qpos={n: int(model.jnt_qposadr[jid(f"{n}_joint")]) for n in names},
        gripper_geoms=gripper_geoms,
        pad_geoms=(int(pads[0]), int(pads[1])),
        table_geom=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "table_top"),
        base_pos=np.array(ROBOT_BASE_POS),
        mount_pos=np.array(ROBOT_BASE_POS) + [0.0, 0.0, MOUNT_OFFSET_Z],
    )


def _is_descendant(model: mujoco.MjModel, body: int, root: int) -> bool:
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return root == 0
