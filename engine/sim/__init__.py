"""MuJoCo simulator: scenes, tasks, stepping, on-demand rendering, success.

``MUJOCO_GL`` must be chosen before mujoco is imported; EGL renders offscreen on headless
machines (and is as fast as OSMesa on CPU), so it is the default unless the user set one.
Every mujoco import in the engine goes through this package, so a broken GL set-up surfaces
here as one clear line instead of a traceback from deep inside PyOpenGL.
"""

import os

from engine.errors import UserError

os.environ.setdefault("MUJOCO_GL", "egl")

try:
    import mujoco  # noqa: F401
except Exception as exc:  # PyOpenGL raises assorted errors when a GL library is missing
    from engine.sim.gl import gl_advice

    _backend = os.environ.get("MUJOCO_GL")
    _first = (str(exc).splitlines() or [type(exc).__name__])[0]
    raise UserError(
        f"cannot load MuJoCo's renderer with MUJOCO_GL={_backend} ({_first}); "
        + gl_advice(_backend)
    ) from None
