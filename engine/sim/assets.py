"""Where the Franka Panda arm and gripper models come from.

We compose our own scene around the Panda arm and gripper MJCF files shipped inside the
``robosuite`` 1.5.2 wheel (MIT licence), installed as an asset package only
(``pip install --no-deps robosuite==1.5.2``). robosuite's Python is never imported: it does not
run on mujoco 4. We only locate its files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.errors import UserError

ASSET_INSTALL_HINT = "pip install --no-deps robosuite==1.5.2"


def robosuite_assets_dir() -> Path:
    """Return robosuite's ``models/assets`` folder, or raise a one-line UserError saying how to install it."""
    spec = importlib.util.find_spec("robosuite")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the Panda model files are missing: install the asset package with `{ASSET_INSTALL_HINT}`"
        )
    root = Path(list(spec.submodule_search_locations)[0]) / "models" / "assets"
    for rel in ("robots/panda/robot.xml", "grippers/panda_gripper.xml"):
        if not (root / rel).is_file():
            raise UserError(
                f"{root / rel} not found: reinstall the asset package with `{ASSET_INSTALL_HINT}`"
            )
    return root
