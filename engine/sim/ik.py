"""Inverse kinematics for the TCP: damped least squares on MuJoCo Jacobians, inside joint limits.

Runs on a private ``MjData`` so solving never disturbs the simulation. Several deterministic
starts (warm start, rest pose, seeded perturbations) make it robust; if none reaches the target
within tolerance the best attempt is returned with ``reached`` False (CaP-X's ``solve_ik`` never
raises: it hands back its solver's best effort).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from engine.sim.scene import SceneModel

POS_TOL = 2e-3
"""m: position residual accepted as reached."""
ROT_TOL = np.deg2rad(2.0)
"""rad: orientation residual accepted as reached."""


@dataclass
class IKResult:
    q: np.ndarray
    pos_error: float
    """m: distance of the solution's TCP from the target position."""
    rot_error: float
    """rad: angle between the solution's TCP orientation and the target's."""
    iterations: int

    @property
    def reached(self) -> bool:
        return self.pos_error < POS_TOL and self.rot_error < ROT_TOL

    def miss(self) -> str:
        """``"3.2 cm and 4.0 deg"``: how far the best attempt is from the target."""
        return f"{self.pos_error * 100:.1f} cm and {np.rad2deg(self.rot_error):.1f} deg"


class IKSolver:
    """Solve for 7 arm joints that put the TCP site at a world pose."""

    def __init__(self, scene: SceneModel, rest: np.ndarray, *, max_iters: int = 150) -> None:
        self.scene = scene
        self.model = scene.model
        self.data = mujoco.MjData(scene.model)
        self.rest = np.asarray(rest, dtype=float)
        self.max_iters = max_iters
        jnt = [self.model.dof_jntid[d] for d in scene.arm_dof]
        self.lower = self.model.jnt_range[jnt, 0].copy()
        self.upper = self.model.jnt_range[jnt, 1].copy()
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    def _pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.data
        d.qpos[self.scene.arm_qpos] = q
        mujoco.mj_kinematics(self.model, d)
        mujoco.mj_comPos(self.model, d)
        sid = self.scene.tcp_site
        return d.site_xpos[sid].copy(), d.site_xmat[sid].reshape(3, 3).copy()

    @staticmethod
    def _rot_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Axis-angle vector (world frame) rotating ``current`` onto ``target``."""
        r = target @ current.T
        angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))
        if angle < 1e-9:
            return np.zeros(3)
        axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
        norm = np.linalg.norm(axis)
        if norm < 1e-9:  # angle ~ pi: pick the axis from the symmetric part
            w, v = np.linalg.eigh((r + np.eye(3)) / 2)
            axis = v[:, np.argmax(w)]
            return axis * angle
        return axis / norm * angle

    def _descend(self, q: np.ndarray, pos: np.ndarray, rot: np.ndarray) -> IKResult:
        dofs = self.scene.arm_dof
        damping = 1e-4
        iterations = 0
        for iterations in range(1, self.max_iters + 1):  # noqa: B007 (reported below)
            cur_p, cur_r = self._pose(q)
            err_p = pos - cur_p
            err_r = self._rot_error(rot, cur_r)
            pe, re = float(np.linalg.norm(err_p)), float(np.linalg.norm(err_r))
            if pe < POS_TOL * 0.25 and re < ROT_TOL * 0.25:
                break
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.scene.tcp_site)
            jac = np.vstack([self._jacp[:, dofs], self._jacr[:, dofs]])
            err = np.concatenate([err_p, 0.5 * err_r])
            jac[3:] *= 0.5
            jjt = jac @ jac.T + damping * np.eye(6)
            dq = jac.T @ np.linalg.solve(jjt, err)
            # Drift toward the rest pose in the null space keeps solutions away from joint limits.
            null = np.eye(7) - jac.T @ np.linalg.solve(jjt, jac)
            dq += null @ (0.05 * (self.rest - q))
            step = np.max(np.abs(dq))
            if step > 0.3:
                dq *= 0.3 / step
            q = np.clip(q + dq, self.lower, self.upper)
        cur_p, cur_r = self._pose(q)
        pe = float(np.linalg.norm(pos - cur_p))
        re = float(np.linalg.norm(self._rot_error(rot, cur_r)))
        return IKResult(q, pe, re, iterations)

    def solve(self, pos: np.ndarray, rot: np.ndarray, warm: np.ndarray) -> IKResult:
        """Best solution over deterministic starts (``reached`` False if none is within tolerance)."""
        pos = np.asarray(pos, dtype=float).reshape(3)
        rot = np.asarray(rot, dtype=float).reshape(3, 3)
        rng = np.random.default_rng(0)
        warm = np.clip(warm, self.lower, self.upper)
        starts = [warm, self.rest.copy()]
        # The wrist's last joint decides the gripper's yaw and gets stuck at its limits, so also
        # start from the warm pose with that joint spread over its range.
        for q7 in np.linspace(self.lower[6] + 0.3, self.upper[6] - 0.3, 4):
            starts.append(np.concatenate([warm[:6], [q7]]))
        starts += [
            np.clip(self.rest + rng.normal(0, 0.4, 7), self.lower, self.upper) for _ in range(3)
        ]
        best: IKResult | None = None
        for start in starts:
            res = self._descend(start.copy(), pos, rot)
            if best is None or (res.pos_error + 0.05 * res.rot_error) < (
                best.pos_error + 0.05 * best.rot_error
            ):
                best = res
            if res.reached:
                return res
        assert best is not None
        return best
