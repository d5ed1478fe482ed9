"""Shared test set-up."""

import os

# Test modules import mujoco directly; choose the headless GL backend before any of them does.
os.environ.setdefault("MUJOCO_GL", "egl")
