"""What offscreen rendering needs from the system, and what to install when it fails.

MuJoCo's EGL backend on a CPU-only Debian machine needs three things: the GL vendor-neutral
EGL loader ``libEGL.so.1`` (package ``libegl1``), Mesa's EGL vendor library
``libEGL_mesa.so.0`` (``libegl-mesa0``) and Mesa's software DRI driver ``swrast_dri.so`` /
``kms_swrast_dri.so`` (``libgl1-mesa-dri``). When rendering fails, :func:`probe` looks for
each (file checks only: no library is loaded, so it is safe inside a sandbox worker) and
:func:`advice`, a pure function of what was found, names exactly the packages that are
missing.
"""

from __future__ import annotations

import os
import platform
import sysconfig
from dataclasses import dataclass

DRI_DRIVERS = ("swrast_dri.so", "kms_swrast_dri.so")


@dataclass(frozen=True)
class GLProbe:
    """Which of rendering's system libraries were found."""

    libegl: bool
    """``libEGL.so.1``: the EGL loader (Debian ``libegl1``)."""
    libegl_mesa: bool
    """``libEGL_mesa.so.0``: Mesa's EGL implementation (Debian ``libegl-mesa0``)."""
    dri_driver: bool
    """``swrast_dri.so`` or ``kms_swrast_dri.so``: Mesa's software driver (``libgl1-mesa-dri``)."""
    osmesa: bool = False
    """``libOSMesa.so.8``: the OSMesa backend (Debian ``libosmesa6``)."""
    dri_dirs: tuple[str, ...] = ()
    """Where the DRI driver was looked for."""
    dri_from_env: bool = False
    """``dri_dirs`` came from ``LIBGL_DRIVERS_PATH`` (Mesa then looks nowhere else)."""


def missing_packages(found: GLProbe) -> list[str]:
    """The Debian packages EGL rendering lacks, in install order (empty: none is missing)."""
    needs = (
        (found.libegl, "libegl1"),
        (found.libegl_mesa, "libegl-mesa0"),
        (found.dri_driver, "libgl1-mesa-dri"),
    )
    return [package for present, package in needs if not present]


def advice(found: GLProbe | None, backend: str | None) -> str:
    """What to do about a failed GL set-up, given what :func:`probe` found (None: unknown)."""
    if backend == "osmesa":
        if found is not None and found.osmesa:
            return "libOSMesa.so.8 is installed; try MUJOCO_GL=egl instead"
        return "on Debian install libosmesa6 (libOSMesa.so.8), or use MUJOCO_GL=egl"
    if backend not in (None, "", "egl"):
        missing = missing_packages(found) if found is not None else []
        tail = f" (on Debian install {' '.join(missing)} first)" if missing else ""
        return f"MUJOCO_GL={backend} needs a display; without one use MUJOCO_GL=egl{tail}"
    if found is None:
        return (
            "EGL rendering needs libEGL.so.1, libEGL_mesa.so.0 and Mesa's DRI driver "
            "(Debian: libegl1 libegl-mesa0 libgl1-mesa-dri)"
        )
    missing = missing_packages(found)
    if not missing:
        return (
            "libEGL.so.1, libEGL_mesa.so.0 and Mesa's DRI driver are all installed, so "
            "something else failed; try MUJOCO_GL=osmesa (Debian: libosmesa6)"
        )
    what = []
    if not found.libegl:
        what.append("libEGL.so.1")
    if not found.libegl_mesa:
        what.append("libEGL_mesa.so.0")
    if not found.dri_driver:
        where = ":".join(found.dri_dirs) if found.dri_from_env else ", ".join(found.dri_dirs)
        if found.dri_from_env:
            where = f"LIBGL_DRIVERS_PATH={where}"
        what.append(f"Mesa's software driver ({' / '.join(DRI_DRIVERS)} in {where or 'dri/'})")
    listed = what[0] if len(what) == 1 else ", ".join(what[:-1]) + " and " + what[-1]
    text = f"missing {listed}: on Debian install {' '.join(missing)}"
    if not found.dri_driver and found.dri_from_env:
        text += ", or point LIBGL_DRIVERS_PATH at the directory that has the driver"
    return text


def _lib_dirs() -> list[str]:
    triplets = {sysconfig.get_config_var("MULTIARCH"), f"{platform.machine()}-linux-gnu"}
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for base in ("/lib", "/usr/lib", "/usr/local/lib"):
        dirs += [f"{base}/{t}" for t in sorted(t for t in triplets if t)]
        dirs.append(base)
    return [*dirs, "/lib64", "/usr/lib64"]


def _dri_dirs() -> list[str]:
    override = os.environ.get("LIBGL_DRIVERS_PATH")
    if override:  # Mesa then looks only there
        return [d for d in override.split(":") if d]
    return [f"{d}/dri" for d in _lib_dirs() if not d.startswith("/lib")]


def probe() -> GLProbe | None:
    """Look for the libraries (None if the file system could not be asked)."""
    try:

        def has(name: str, dirs: list[str]) -> bool:
            return any(os.path.exists(os.path.join(d, name)) for d in dirs)

        libs = _lib_dirs()
        dri = _dri_dirs()
        from_env = bool(os.environ.get("LIBGL_DRIVERS_PATH"))
        return GLProbe(
            libegl=has("libEGL.so.1", libs),
            libegl_mesa=has("libEGL_mesa.so.0", libs),
            dri_driver=any(has(name, dri) for name in DRI_DRIVERS),
            osmesa=has("libOSMesa.so.8", libs),
            dri_dirs=tuple(dri) if from_env else tuple(d for d in dri if os.path.isdir(d)),
            dri_from_env=from_env,
        )
    except Exception:  # a probe must never hide the error it explains
        return None


def gl_advice(backend: str | None) -> str:
    """:func:`advice` for this machine."""
    return advice(probe(), backend)
