"""The imports CaP-X programs use (scipy, cv2, PIL), in real workers, with the old guarantees:
no file writes, no reads outside the allowed roots, no os/sys/subprocess through module
attributes, no sockets, and no native library opening files on the trial's behalf."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.sandbox.policy import (
    CV2_ALLOWED,
    allowed_imports_text,
    check_source,
    member_problem,
    module_access,
    module_allowed,
)
from engine.sandbox.worker import SandboxWorker

TOY = "engine.sandbox.toy:build_toy"


async def _run_all(blocks: list[str], static: bool = True) -> list:
    """Run ``blocks`` one after another in one fresh worker; the last result is a health check."""
    w = SandboxWorker(TOY, memory_bytes=2 * 2**30)
    w.static_policy = static
    await w.start()
    try:
        results = [await w.run_block(code, timeout_s=60) for code in blocks]
        results.append(await w.run_block("print(bump())"))
        return results
    finally:
        await w.close()


# --------------------------------------------------------------------------- the policy itself
def test_scipy_is_allowed_whole_except_its_file_download_and_fortran_parts() -> None:
    for name in (
        "scipy",
        "scipy.spatial.transform",
        "scipy.ndimage",
        "scipy.linalg",
        "scipy.stats",
    ):
        assert module_allowed(name), name
    for name in ("scipy.io", "scipy.io.wavfile", "scipy.datasets", "scipy.misc", "scipy.odr"):
        assert module_access(name) is None, name
    assert module_access("scipy._lib") is None
    assert check_source("import scipy\nr = scipy.spatial.transform.Rotation") == []
    assert check_source("import scipy.ndimage\nfrom scipy.spatial.transform import Rotation") == []
    assert "scipy.io is not available" in str(check_source("from scipy import io")[0])


def test_cv2_is_allowed_only_through_its_allow_list_and_pil_only_in_parts() -> None:
    assert module_allowed("cv2") and module_access("cv2.dnn") is None
    assert module_access("PIL") == "path" and module_allowed("PIL.Image")
    assert module_access("PIL.ImageFont") is None and module_access("PIL.ImageShow") is None
    assert member_problem("cv2", "findContours") is None
    assert member_problem("cv2", "COLOR_BGR2HSV", 40) is None
    assert member_problem("cv2", "COLOR_BGR2Lab", 44) is None  # constants are not all upper-case
    assert member_problem("cv2", "SIFT_create", len)  # looks like a constant, is not one
    for name in ("imread", "imwrite", "VideoCapture", "FileStorage", "dnn", "utils", "imencode"):
        assert "not available to trial code" in (member_problem("cv2", name) or ""), name
    code = "import cv2 as cv\nm = cv.findContours\ncv.imwrite('x.png', m)"
    assert [str(v) for v in check_source(code)] == [
        "line 3: cv2.imwrite is not available to trial code "
        "(only cv2's functions on in-memory arrays and its constants are)"
    ]
    assert "cv2.imread" in str(check_source("from cv2 import imread, cvtColor")[0])
    assert check_source("import cv2\nprint(cv2.__version__, cv2.COLOR_BGR2HSV)") == []


def test_every_allowed_cv2_name_exists_and_works_on_arrays_only() -> None:
    import cv2

    missing = sorted(n for n in CV2_ALLOWED if not hasattr(cv2, n))
    assert not missing, missing
    kinds = {type(getattr(cv2, n)).__name__ for n in CV2_ALLOWED - {"error"}}
    assert kinds == {"builtin_function_or_method"}, kinds  # functions, never classes/factories
    off_limits = {"imread", "imwrite", "imreadmulti", "imwritemulti", "haveImageReader"}
    off_limits |= {"haveImageWriter", "VideoCapture", "VideoWriter", "FileStorage"}
    off_limits |= {"CascadeClassifier", "imencode", "imdecode", "setNumThreads"}
    assert not CV2_ALLOWED & off_limits


def test_a_refused_import_lists_the_allowed_ones_readably() -> None:
    reason = check_source("import os")[0].reason
    allowed = reason.split("(allowed: ", 1)[1]
    for name in ("numpy", "math", "cv2", "PIL.Image", "PIL.ImageDraw", "scipy (not "):
        assert name in allowed, (name, allowed)
    assert "scipy.spatial," not in allowed and "__future__" not in allowed
    assert "scipy.io" in allowed.split("scipy (not ", 1)[1]  # listed as what is not allowed
    assert allowed_imports_text() + ")" == allowed


# --------------------------------------------------------------------------- real workers
POSITIVE = """
import math
import numpy as np
import scipy
import scipy.ndimage
from scipy.spatial.transform import Rotation
import cv2
from PIL import Image, ImageDraw, ImageFilter, ImageOps

q = Rotation.from_matrix(np.eye(3)).as_quat()
q2 = scipy.spatial.transform.Rotation.from_euler("z", 90, degrees=True).as_quat()
mask = np.zeros((40, 40), np.uint8)
mask[5:15, 5:15] = 1
mask[25:35, 20:38] = 1
labels, n = scipy.ndimage.label(mask)
print("scipy", q.round(3).tolist(), round(float(q2[2]), 3), n, scipy.linalg.det(np.eye(2)))
res = scipy.optimize.minimize(lambda v: float(np.sum((v - 2.0) ** 2)), np.zeros(2))
print("optimize", round(float(res.x[0]), 2), scipy.ndimage.center_of_mass(mask)[0] > 0)

m = (mask * 255).astype(np.uint8)
contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
big = max(contours, key=cv2.contourArea)
(cx, cy), (w, h), angle = cv2.minAreaRect(big)
hsv = cv2.cvtColor(np.zeros((4, 4, 3), np.uint8), cv2.COLOR_BGR2HSV)
version = cv2.__version__
print("cv2", len(contours), sorted([round(w), round(h)]), hsv.shape, isinstance(version, str))

img = Image.fromarray(np.zeros((8, 8, 3), np.uint8)).resize((4, 4)).convert("L")
draw = ImageDraw.Draw(img)
draw.rectangle((0, 0, 1, 1), fill=255)
small = ImageOps.invert(img.filter(ImageFilter.GaussianBlur(1)))
print("PIL", np.asarray(img).shape, int(np.asarray(img).max()), small.size, math.pi > 3)

square = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]])
hull = scipy.spatial.ConvexHull(square, qhull_options="Qt")
tri = scipy.spatial.Delaunay(np.random.rand(8, 2))
lp = scipy.optimize.linprog([1, 1], A_ub=[[-1, -1]], b_ub=[-1], options={"presolve": False})
print("qhull", len(hull.vertices), isinstance(hull, scipy.spatial.ConvexHull), lp.status)
"""


async def test_scipy_cv2_and_pil_work_in_the_sandbox() -> None:
    result, health = await _run_all([POSITIVE])
    assert result.ok, (result.violation, result.exception, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[0] == "scipy [0.0, 0.0, 0.0, 1.0] 0.707 2 1.0", lines
    assert lines[1] == "optimize 2.0 True", lines
    assert lines[2] == "cv2 2 [9, 17] (4, 4, 3) True", lines
    assert lines[3] == "PIL (4, 4) 255 (4, 4) True", lines
    assert lines[4] == "qhull 4 True 0", lines
    assert health.ok


CONNECT = (
    "for c in ().__class__.__bases__[0].__subclasses__():\n"
    "    if c.__name__ == '_wrap_close':\n"
    "        s = c.__init__.__globals__['__builtins__']['__import__']('socket')\n"
    "        s.create_connection(('127.0.0.1', 9))\n"
)


def hostile(written: str) -> dict[str, tuple[str, str, str | None]]:
    """name: (code, expected violation with the static check on, and with it off); the files
    an attempt would write are ``written`` + .png, .sol or .log."""
    png, sol, log = (repr(written + suffix) for suffix in (".png", ".sol", ".log"))
    return {
        "cv2.imwrite": (
            f"import cv2, numpy as np\ncv2.imwrite({png}, np.zeros((2, 2), np.uint8))",
            "cv2.imwrite is not available to trial code",
            "cv2.imwrite is not available to trial code",
        ),
        "cv2.imread": (
            "import cv2\ncv2.imread('/etc/passwd')",
            "cv2.imread is not available",
            "cv2.imread is not available",
        ),
        "cv2 name computed at run time": (
            "import cv2\ngetattr(cv2, 'im' + 'write')",
            "cv2.imwrite is not available",
            "cv2.imwrite is not available",
        ),
        "from cv2 import": ("from cv2 import VideoCapture", "cv2.VideoCapture", "cv2.VideoCapture"),
        "cv2 submodule import": ("import cv2.dnn", "import of 'cv2.dnn'", "import of 'cv2.dnn'"),
        "cv2 submodule attribute": ("import cv2\ncv2.dnn", "cv2.dnn is not", "cv2.dnn is not"),
        "cv2 objects with file methods": (
            "import cv2\ncv2.FileStorage",
            "cv2.FileStorage is not",
            "cv2.FileStorage is not",
        ),
        "cv2 factory": ("import cv2\ncv2.SIFT_create()", "cv2.SIFT_create", "cv2.SIFT_create"),
        "cv2.os": ("import cv2\ncv2.os.system('true')", "access to 'os'", "access to 'os'"),
        "cv2.sys": ("import cv2\ncv2.sys.modules", "access to 'sys'", "access to 'sys'"),
        "PIL save": (
            "from PIL import Image\nimport numpy as np\n"
            f"Image.fromarray(np.zeros((4, 4), np.uint8)).save({png})",
            "'save'",
            "writing files is not allowed",
        ),
        "PIL open outside the roots": (
            "from PIL import Image\nImage.open('/etc/passwd')",
            "reading files is not allowed ('/etc/passwd')",
            "reading files is not allowed ('/etc/passwd')",
        ),
        "PIL.Image.os": ("from PIL import Image\nImage.os.environ", "access to 'os'", "'os'"),
        "PIL.Image.builtins": (
            "import PIL.Image\nPIL.Image.builtins.open",
            "access to 'builtins'",
            "'builtins'",
        ),
        "PIL.Image.sys": ("from PIL import Image\nImage.sys.modules", "access to 'sys'", "'sys'"),
        "PIL native core": ("from PIL import Image\nImage.core", "PIL._imaging", "PIL._imaging"),
        "PIL fonts": ("from PIL import ImageFont", "import from 'PIL'", "import of 'PIL'"),
        "PIL font object": (
            "from PIL import Image, ImageDraw\nd = ImageDraw.Draw(Image.new('L', (4, 4)))\n"
            "d.text((0, 0), 'x')\ntype(d.font)('/etc/passwd')",
            "access to 'font'",
            None,  # plain attribute reads are the static check's (FreeType opens the path in C)
        ),
        "PIL font object, computed": (
            "from PIL import Image, ImageDraw\nd = ImageDraw.Draw(Image.new('L', (4, 4)))\n"
            "getattr(d, 'fo' + 'nt')",
            "getattr of 'font'",
            "getattr of 'font'",
        ),
        "ImageDraw2 module": (
            "from PIL import ImageDraw\nImageDraw.getdraw()",
            "'getdraw'",
            "'getdraw'",
        ),
        "scipy private": ("import scipy\nscipy._lib", "'_lib'", "'_lib'"),
        "scipy.io import": ("import scipy.io", "import of 'scipy.io'", "import of 'scipy.io'"),
        "scipy.io attribute": ("import scipy\nscipy.io", "scipy.io is not", "scipy.io is not"),
        "scipy.datasets": ("from scipy import datasets", "scipy.datasets", "scipy.datasets"),
        "scipy.misc": ("import scipy\nscipy.misc", "scipy.misc", "scipy.misc"),
        "scipy.odr report file": (
            "import scipy\nscipy.odr.ODR",
            "scipy.odr is not",
            "scipy.odr is not",
        ),
        "scipy function pointers": (
            "import scipy\nscipy.LowLevelCallable",
            "'LowLevelCallable'",
            "'LowLevelCallable'",
        ),
        "qhull reopens stdin on a file": (
            "import scipy, numpy as np\n"
            "scipy.spatial.ConvexHull(np.random.rand(8, 2), qhull_options='TI/etc/passwd')",
            "ConvexHull: Qhull's T options",
            "ConvexHull: Qhull's T options",
        ),
        "qhull option given by position": (
            "from scipy.spatial import Delaunay\nimport numpy as np\n"
            "Delaunay(np.random.rand(8, 2), False, False, 'Qt TI/etc/passwd')",
            "Delaunay: Qhull's T options",
            "Delaunay: Qhull's T options",
        ),
        "HiGHS writes a solution file": (
            "import scipy\nscipy.optimize.linprog([1, 1], A_ub=[[-1, -1]], b_ub=[-1], "
            f"options={{'write_solution_to_file': True, 'solution_file': {sol}}})",
            "linprog: solver option 'write_solution_to_file'",
            "linprog: solver option 'write_solution_to_file'",
        ),
        "HiGHS log file from milp": (
            "from scipy.optimize import milp, LinearConstraint\n"
            "milp([1, 1], constraints=LinearConstraint([[1, 1]], lb=1),\n"
            f"     options={{'log_file': {log}}})",
            "milp: solver option 'log_file'",
            "milp: solver option 'log_file'",
        ),
        "sockets with everything imported": (
            "import numpy, scipy, scipy.spatial, cv2\nfrom PIL import Image\n" + CONNECT,
            "dunder attribute",
            "socket.",
        ),
        "refused import names the allowed ones": (
            "import subprocess",
            "scipy (not scipy.conftest, scipy.datasets, scipy.io",
            "cv2 (functions on in-memory images",
        ),
    }


async def test_guarantees_hold_with_scipy_cv2_and_pil_imported(tmp_path: Path) -> None:
    """Each attempt is refused with its reason, with the static check on and with only the
    run-time layers (proxies, checked calls, audit hook), and nothing is written."""
    written = str(tmp_path / "autocapx-imports-pwned")
    attempts = hostile(written)
    names = list(attempts)
    on, off = await asyncio.gather(
        _run_all([attempts[n][0] for n in names], static=True),
        _run_all([attempts[n][0] for n in names if attempts[n][2]], static=False),
    )
    for results in (on, off):
        assert results[-1].ok and results[-1].killed is None, results[-1]
    off_names = [n for n in names if attempts[n][2]]
    for name, result in [*zip(names, on[:-1], strict=True), *zip(off_names, off[:-1], strict=True)]:
        assert not result.ok and result.killed is None, (name, result)
    for name, result in zip(names, on[:-1], strict=True):
        assert attempts[name][1] in (result.violation or ""), (name, result.violation, result)
    for name, result in zip(off_names, off[:-1], strict=True):
        assert attempts[name][2] in (result.violation or ""), (name, result.violation, result)
    found = [p for p in (".png", ".sol", ".log") if Path(written + p).exists()]
    assert not found, found
    assert list(tmp_path.iterdir()) == [], "nothing was written"


async def test_checked_scipy_callables_stay_the_same_object_and_subclass_the_original() -> None:
    code = (
        "import scipy, numpy as np\n"
        "from scipy.spatial import ConvexHull\n"
        "h = ConvexHull(np.random.rand(8, 2))\n"
        "print(ConvexHull is scipy.spatial.ConvexHull, isinstance(h, ConvexHull))\n"
        "print(scipy.optimize.linprog is scipy.optimize.linprog)\n"
    )
    result, _ = await _run_all([code])
    assert result.ok and result.stdout == "True True\nTrue\n", result
