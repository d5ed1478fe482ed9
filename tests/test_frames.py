"""[session] keep_frames: each block's before/after frames kept as PNG files beside the
session (never in the database, never shown to a capx-feedback LLM), opened from the
console's timeline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from engine.config import load_config
from engine.store.reader import SessionReader
from engine.store.sessions import DB_NAME
from engine.sweep.session import create_session, execute_session
from tests.sweep_helpers import write_config


async def _session(tmp_path: Path, extra: str) -> Path:
    config = load_config(write_config(tmp_path / "s.toml", n=1, session_extra=extra))
    directory = create_session(config, tmp_path / "sessions")
    assert await execute_session(directory, config, quiet=True) == "finished"
    return directory


@pytest.mark.slow
async def test_kept_frames_are_pngs_of_every_executed_block(tmp_path: Path) -> None:
    directory = await _session(tmp_path, "keep_frames = true\ncamera_size = 96")
    reader = SessionReader(directory / DB_NAME)
    try:
        runs = reader.trials(status="done")
        executed = [(r["run_id"], b) for r in runs for b in reader.blocks(r["run_id"])]
        executed = [(run, b) for run, b in executed if b["executed"]]
        assert executed
        for run_id, block in executed:
            found = reader.block_frames(run_id, block["idx"])
            assert set(found) == {"before", "after"}
            for path in found.values():
                image = Image.open(io.BytesIO(path.read_bytes()))
                assert image.format == "PNG" and image.size == (96, 96)
            # capx feedback: the LLM's next prompt has text only, no image marker
            assert "image" not in (block["feedback"] or "").lower()
    finally:
        reader.close()


@pytest.mark.slow
async def test_no_frames_unless_asked(tmp_path: Path) -> None:
    directory = await _session(tmp_path, "")
    assert not (directory / "frames").exists()
