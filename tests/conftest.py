"""Shared test set-up."""

import os

# Test modules import mujoco directly; choose the headless GL backend before any of them does.
os.environ.setdefault("MUJOCO_GL", "egl")


import pytest  # noqa: E402


@pytest.fixture
def openai_server():
    """A local OpenAI-compatible server (see tests/openai_server.py); yields its scripted state."""
    from tests.openai_server import ServerThread

    with ServerThread() as state:
        yield state
