"""What `pip install autocapx` gets: a wheel with the model files, the init templates and the
console's styles, so nothing else has to be installed or found in a clone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.commands.init import TEMPLATES
from engine.sim.assets import MANIFEST, REQUIRED_FILES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel pip builds from a copy of the source tree (pip builds in the tree it is
    given, so the checkout itself is left alone)."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("src") / "autocapx"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "sessions", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        pytest.skip("pip cannot fetch the build backend here (no package index)")
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("autocapx-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_the_wheel_holds_every_model_file_and_template(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for rel in (*REQUIRED_FILES, MANIFEST, "LICENSE"):
        assert f"engine/sim/assets/panda/{rel}" in names, rel
    for template in TEMPLATES:
        assert f"engine/templates/{template}" in names, template
    assert any(n.startswith("autocapx_tui/") and n.endswith(".tcss") for n in names)
    assert not any("robosuite" in n for n in names)


@pytest.mark.slow
def test_the_wheel_is_small(wheel: zipfile.ZipFile) -> None:
    size = Path(wheel.filename).stat().st_size
    assert size < 20 * 2**20, f"{size / 2**20:.1f} MB"  # robosuite's wheel alone was ~170 MB
