"""A block's camera frames, kept as PNG files beside the session (``[session] keep_frames``).

Images would bloat the database every viewer reads, so they live in
``<session>/frames/<run id>/<block>-before.png`` and ``-after.png``; the database says
nothing of them and a missing file only means the session did not keep frames.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

FOLDER = "frames"
NAMES = ("before", "after")


def frame_path(directory: Path, run_id: int, block: int, name: str) -> Path:
    return directory / FOLDER / str(run_id) / f"{block}-{name}.png"


def save(directory: Path, run_id: int, block: int, images: dict[str, bytes]) -> None:
    """Write a block's frames (a full disk loses the pictures, never the trial)."""
    for name in NAMES:
        if images.get(name):
            path = frame_path(directory, run_id, block, name)
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(images[name])


def saved(directory: Path, run_id: int, block: int) -> dict[str, Path]:
    """The frames kept for one block, by name (empty if none were)."""
    found = {n: frame_path(directory, run_id, block, n) for n in NAMES}
    return {n: p for n, p in found.items() if p.is_file()}
