"""Feedback modes, vision models and prompt files, wired from the sweep config to the trials."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.config import ConfigError, parse_config
from engine.sweep.session import config_for_resume, create_session, stored_config
from tests.sweep_helpers import autocapx, query, write_config

VDM = '[vdm]\nbackend = "synthetic"\n'
PROMPTS = """\
prompt: |
  Drive the arm with the functions below. Goal: {goal}.
multi_turn_prompt: |
  So far:
  ```python
  {executed_code}
  ```
  out: {console_stdout}
  err: {console_stderr}
"""


@pytest.mark.parametrize(
    "session, extra, message",
    [
        ('feedback = "text"', "", "'text' is gone"),
        ('feedback = "vdm"', "", "'vdm' needs a vision model"),
        ('feedback = "capx"', VDM, "used only with feedback = 'vdm'"),
        ('feedback = "vdm"', '[vdm]\nbackend = "openai"\n', "vdm.model: required"),
        ('feedback = "oracle"', "", "must be one of capx, vision, vdm, privileged"),
        ('prompts = "missing.yaml"', "", "session.prompts: cannot read prompt file"),
    ],
)
def test_feedback_settings_the_engine_cannot_honour_are_refused(
    tmp_path: Path, session: str, extra: str, message: str
) -> None:
    path = write_config(tmp_path / "s.toml", session_extra=session)
    path.write_text(path.read_text() + "\n" + extra)
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(path.read_text(), str(path))
    assert "\n" not in str(info.value)


def test_vision_feedback_needs_a_vision_backbone() -> None:
    text = (
        '[session]\nfeedback = "vision"\n[[backbones]]\nbackend = "openai"\nmodel = "m"\n'
        '[[conditions]]\nname = "P21_a"\n'
    )
    with pytest.raises(ConfigError, match=r"backbones\[0\].vision: feedback 'vision'"):
        parse_config(text)
    assert parse_config(text.replace('model = "m"', 'model = "m"\nvision = true'))


def test_the_prompt_file_is_stored_with_the_session_and_guards_resume(tmp_path: Path) -> None:
    (tmp_path / "lift.yaml").write_text(PROMPTS)
    path = write_config(tmp_path / "s.toml", n=1, session_extra='prompts = "lift.yaml"')
    config = parse_config(path.read_text(), str(path))
    assert config.prompt_set.prompt.startswith("Drive the arm") and "lift.yaml" in (
        config.prompt_set.source
    )
    directory = create_session(config, tmp_path / "sessions", path)
    assert stored_config(directory)[0].prompt_set == config.prompt_set
    (tmp_path / "lift.yaml").write_text(PROMPTS.replace("So far:", "Until now:"))
    with pytest.raises(Exception, match="changed since session"):
        config_for_resume(directory, force=False)  # the texts count, not the file name
    (tmp_path / "lift.yaml").unlink()
    path.unlink()  # config and prompts moved away: the stored texts are what the session uses
    assert config_for_resume(directory, force=False).prompt_set == config.prompt_set


def test_a_session_of_an_earlier_autocapx_is_not_resumed_with_other_prompts(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path / "s.toml", n=1)
    directory = create_session(parse_config(path.read_text(), str(path)), tmp_path / "s", path)
    db = directory / "session.db"
    snapshot = json.loads(query(db, "SELECT config_json FROM session")[0][0])
    del snapshot["prompt_set"]  # as an earlier version stored it
    snapshot["session"]["feedback"] = "text"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE session SET config_json = ?", (json.dumps(snapshot),))
    conn.close()
    with pytest.raises(Exception, match="started with session.feedback = 'text'"):
        stored_config(directory)


def test_a_vdm_sweep_describes_every_block_with_the_vision_model(tmp_path: Path) -> None:
    path = write_config(tmp_path / "s.toml", n=1, session_extra='feedback = "vdm"')
    path.write_text(path.read_text() + "\n" + VDM)
    proc = autocapx("run", str(path), sessions=tmp_path / "sessions")
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    db = next((tmp_path / "sessions").glob("*/session.db"))
    blocks = query(
        db,
        "SELECT trial_key, idx, executed, feedback, prompt, vdm_prompt_tokens FROM blocks "
        "ORDER BY trial_key, idx",
    )
    assert blocks
    for key, idx, executed, feedback, prompt, vdm_tokens in blocks:
        if idx == 0:
            assert "as a vision model describes it:\nA red object is visible" in prompt, key
            assert vdm_tokens > 0  # the initial description was charged to block 0
        if executed and idx + 1 < sum(1 for b in blocks if b[0] == key):
            assert feedback and feedback.startswith(("The red object", "Before:")), key
            follow = next(b[4] for b in blocks if b[0] == key and b[1] == idx + 1)
            assert feedback in follow
        assert "task success" not in prompt
