"""What a trial's world is made of, as plain values (a light module: no MuJoCo import).

Config parsing, the CLI and the trial loop need these without loading the simulator.
"""

from __future__ import annotations

CAMERA_SIZE = 512
"""Pixels per side of the ``robot0_robotview`` image by default, as CaP-X renders it."""
MAX_CAMERA_SIZE = 1024
"""The scene's offscreen buffer: no larger image can be rendered."""
MIN_CAMERA_SIZE = 16
