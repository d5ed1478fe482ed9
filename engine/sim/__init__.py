"""MuJoCo simulator: scenes, tasks, stepping, on-demand rendering, success.

``MUJOCO_GL`` must be chosen before mujoco is imported; EGL renders offscreen on headless
machines (and is as fast as OSMesa on CPU), so it is the default unless the user set one.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
