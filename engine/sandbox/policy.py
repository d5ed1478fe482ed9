"""Static policy for untrusted trial code: what may be imported, called and accessed.

A pure function over the AST, run before any code executes. It rejects imports outside the
allow-list, the builtins that reach the interpreter (exec, eval, compile, open, __import__ ...),
dunder attribute access (the usual route out of a sandbox, e.g.
``().__class__.__bases__[0].__subclasses__()``), frame/generator internals, numpy's file I/O and
the parts of OpenCV outside its allow-list. It is the first of three layers: the worker also
restricts builtins, hands out modules only as read-only proxies (which apply the same module and
attribute rules, :func:`member_problem`, and the argument checks of :data:`CALL_CHECKS`), and
installs an audit hook, so what this check cannot see (names computed at run time) is still
stopped. This layer exists for the message, the later ones for the guarantee.

The audit hook only sees what goes through Python (``open``, ``os``, ``socket`` ...). Native
libraries that open files by name themselves are kept out by these rules instead: OpenCV by an
allow-list of attributes, ``scipy.odr`` by blocking it, Qhull's and HiGHS's file options by
argument checks, PIL's FreeType fonts by refusing the attributes that lead to a font object.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

ALLOWED_MODULES = frozenset(
    {
        "numpy",
        "math",
        "cmath",
        "random",
        "itertools",
        "functools",
        "collections",
        "typing",
        "dataclasses",
        "copy",
        "heapq",
        "bisect",
        "statistics",
        "json",
        "re",
        "time",
        "enum",
        "scipy",
        "cv2",
        # PIL only in parts: its other modules load fonts and ICC profiles by path in C
        "PIL.Image",
        "PIL.ImageChops",
        "PIL.ImageColor",
        "PIL.ImageDraw",
        "PIL.ImageEnhance",
        "PIL.ImageFilter",
        "PIL.ImageOps",
        "PIL.ImageStat",
        "__future__",
    }
)
"""Modules trial code may import (a submodule of an allowed module is allowed too, except for
modules with an attribute allow-list, :data:`ATTRIBUTE_ALLOWLISTS`, which have none)."""

BLOCKED_MODULES = frozenset(
    {
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "scipy.io",  # reads and writes files
        "scipy.datasets",  # downloads
        "scipy.misc",  # deprecated; its data loaders read files
        "scipy.odr",  # ODRPACK (Fortran) opens its report and error files by name
        "scipy.conftest",  # pytest configuration
    }
)
"""Submodules of allowed modules that stay off limits (native code, compilers, subprocesses,
file I/O, downloads)."""

CV2_ALLOWED = frozenset(
    {
        # colour, thresholds, look-up tables
        "cvtColor",
        "inRange",
        "threshold",
        "adaptiveThreshold",
        "applyColorMap",
        "LUT",
        # contours and shapes
        "findContours",
        "drawContours",
        "contourArea",
        "arcLength",
        "approxPolyDP",
        "convexHull",
        "convexityDefects",
        "isContourConvex",
        "boundingRect",
        "minAreaRect",
        "boxPoints",
        "fitLine",
        "fitEllipse",
        "minEnclosingCircle",
        "minEnclosingTriangle",
        "moments",
        "HuMoments",
        "matchShapes",
        "pointPolygonTest",
        "intersectConvexConvex",
        "rotatedRectangleIntersection",
        # filters and morphology
        "morphologyEx",
        "erode",
        "dilate",
        "getStructuringElement",
        "GaussianBlur",
        "medianBlur",
        "blur",
        "boxFilter",
        "bilateralFilter",
        "filter2D",
        "sepFilter2D",
        "Sobel",
        "Scharr",
        "Laplacian",
        "Canny",
        "getGaussianKernel",
        "pyrDown",
        "pyrUp",
        "copyMakeBorder",
        "inpaint",
        # features, matching, optical flow
        "HoughLines",
        "HoughLinesP",
        "HoughCircles",
        "goodFeaturesToTrack",
        "cornerHarris",
        "cornerMinEigenVal",
        "cornerSubPix",
        "matchTemplate",
        "calcOpticalFlowPyrLK",
        "calcOpticalFlowFarneback",
        # regions
        "connectedComponents",
        "connectedComponentsWithStats",
        "distanceTransform",
        "floodFill",
        "grabCut",
        "watershed",
        # geometric transforms
        "resize",
        "warpAffine",
        "warpPerspective",
        "getRotationMatrix2D",
        "getAffineTransform",
        "getPerspectiveTransform",
        "invertAffineTransform",
        "remap",
        "flip",
        "rotate",
        "transpose",
        "perspectiveTransform",
        "transform",
        "findHomography",
        "estimateAffine2D",
        "estimateAffinePartial2D",
        "getRectSubPix",
        # array arithmetic and linear algebra
        "split",
        "merge",
        "hconcat",
        "vconcat",
        "bitwise_and",
        "bitwise_or",
        "bitwise_xor",
        "bitwise_not",
        "add",
        "subtract",
        "multiply",
        "divide",
        "absdiff",
        "addWeighted",
        "convertScaleAbs",
        "countNonZero",
        "findNonZero",
        "minMaxLoc",
        "mean",
        "meanStdDev",
        "normalize",
        "sumElems",
        "magnitude",
        "phase",
        "cartToPolar",
        "polarToCart",
        "compare",
        "max",
        "min",
        "sqrt",
        "pow",
        "exp",
        "log",
        "reduce",
        "repeat",
        "determinant",
        "invert",
        "solve",
        "eigen",
        "SVDecomp",
        "PCACompute",
        "PCAProject",
        "PCABackProject",
        "kmeans",
        "norm",
        "integral",
        "dft",
        "idft",
        # drawing
        "circle",
        "rectangle",
        "line",
        "arrowedLine",
        "polylines",
        "fillPoly",
        "fillConvexPoly",
        "ellipse",
        "ellipse2Poly",
        "drawMarker",
        "putText",
        "getTextSize",
        # histograms
        "calcHist",
        "calcBackProject",
        "compareHist",
        "equalizeHist",
        # camera geometry
        "Rodrigues",
        "solvePnP",
        "solvePnPRansac",
        "projectPoints",
        "undistort",
        "undistortPoints",
        "initUndistortRectifyMap",
        "getOptimalNewCameraMatrix",
        "triangulatePoints",
        "convertPointsToHomogeneous",
        "convertPointsFromHomogeneous",
        "decomposeHomographyMat",
        "findFundamentalMat",
        "findEssentialMat",
        "recoverPose",
        "drawFrameAxes",
        "RQDecomp3x3",
        "decomposeProjectionMatrix",
        "composeRT",
        # the exception its functions raise
        "error",
    }
)
"""What trial code may use of OpenCV, besides its integer constants and ``__version__``.

An allow-list, not a deny-list: OpenCV is C++ and opens files, cameras and network streams
itself (imread/imwrite, VideoCapture/VideoWriter, FileStorage, CascadeClassifier, dnn.readNet*,
samples.findFile, ``save``/``write`` on every ``Algorithm`` ...), out of sight of the audit hook,
and every release adds more. So only functions that work on arrays in memory and return arrays,
numbers or tuples of them (never an object with methods) are listed; every name was checked
against the installed cv2 (5.0). Left out on purpose: imencode/imdecode (for codecs without
in-memory support, JPEG 2000 for one, OpenCV goes through a temporary file), every class and
``create*`` factory (Algorithms have ``save``/``read``), the global switches (setNumThreads,
setUseOptimized, ocl ...) and all submodules."""

ATTRIBUTE_ALLOWLISTS: dict[str, frozenset[str]] = {"cv2": CV2_ALLOWED}
"""Modules trial code may use only in the listed attributes (plus integer constants and
``__version__``); none of their submodules is reachable."""


# --------------------------------------------------------------------------- argument checks
def _qhull_options_problem(position: int) -> Callable[[tuple, dict], str | None]:
    """Qhull's ``TI file`` reopens the process's stdin on ``file`` in C (stdin is the worker's
    request channel; ``TO file`` would write one, scipy's set-up makes Qhull refuse it). The other
    ``T`` options only trace: refuse them all."""

    def check(args: tuple, kwargs: dict) -> str | None:
        value = kwargs.get("qhull_options", args[position] if len(args) > position else None)
        if value is None:
            return None
        if type(value) is not str:
            return "qhull_options must be a str"
        if "T" in value:
            return "Qhull's T options are not allowed (TI and TO open files)"
        return None

    return check


_LINPROG_OPTIONS = frozenset(
    {
        # highs, highs-ds, highs-ipm
        "maxiter",
        "disp",
        "presolve",
        "time_limit",
        "dual_feasibility_tolerance",
        "primal_feasibility_tolerance",
        "ipm_optimality_tolerance",
        "simplex_dual_edge_weight_strategy",
        "mip_rel_gap",
        "mip_max_nodes",
        # the legacy methods
        "tol",
        "autoscale",
        "rr",
        "rr_method",
        "alpha0",
        "beta",
        "sparse",
        "lstsq",
        "sym_pos",
        "cholesky",
        "pc",
        "ip",
        "permc_spec",
        "maxupdate",
        "mast",
        "pivot",
        "bland",
    }
)
_MILP_OPTIONS = frozenset({"disp", "presolve", "time_limit", "node_limit", "mip_rel_gap"})


def _solver_options_problem(
    position: int | None, known: frozenset[str]
) -> Callable[[tuple, dict], str | None]:
    """scipy passes options it does not know to HiGHS verbatim, and HiGHS writes (and reads) the
    files they name in C (``solution_file``, ``log_file``, ``write_model_file`` ...): only the
    options scipy documents are accepted."""

    def check(args: tuple, kwargs: dict) -> str | None:
        given = args[position] if position is not None and len(args) > position else None
        options = kwargs.get("options", given)
        if options is None:
            return None
        if type(options) is not dict:
            return "options must be a dict"
        for key in options:
            if type(key) is not str or key not in known:
                return f"solver option {key!r} is not available to trial code"
        return None

    return check


CALL_CHECKS: dict[tuple[str, str], Callable[[tuple, dict], str | None]] = {
    ("scipy.spatial._qhull", "ConvexHull"): _qhull_options_problem(2),
    ("scipy.spatial._qhull", "Delaunay"): _qhull_options_problem(3),
    ("scipy.spatial._qhull", "Voronoi"): _qhull_options_problem(3),
    ("scipy.spatial._qhull", "HalfspaceIntersection"): _qhull_options_problem(3),
    ("scipy.optimize._linprog", "linprog"): _solver_options_problem(8, _LINPROG_OPTIONS),
    ("scipy.optimize._milp", "milp"): _solver_options_problem(None, _MILP_OPTIONS),
}
"""Library callables (by ``__module__`` and ``__qualname__``) whose arguments are checked before
trial code's call reaches them: they hand parts of their arguments to C code that opens files.
Each check returns why the call is refused (``None``: it may go ahead); the module proxies hand
out checking wrappers in place of the originals (and dicts are copied before the check)."""

FORBIDDEN_CALLS = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "__import__",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "setattr",
        "delattr",
    }
)

FORBIDDEN_NAMES = frozenset({"__builtins__", "__import__", "__loader__", "__spec__", "__file__"})

FORBIDDEN_ATTRS = frozenset(
    {
        # frames, code objects and generator internals lead to globals/builtins of other modules
        "gi_frame",
        "gi_code",
        "cr_frame",
        "ag_frame",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "mro",
        # numpy / scipy file and foreign-function access
        "tofile",
        "fromfile",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "load",
        "loadtxt",
        "genfromtxt",
        "fromregex",
        "memmap",
        "DataSource",
        "ctypeslib",
        "ctypes",
        "f2py",
        "distutils",
        "testing",
        # modules that other modules carry as attributes (numpy.lib._npyio_impl.os, typing.sys ...)
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "socket",
        "shutil",
        # scipy: calls C function pointers
        "LowLevelCallable",
        # PIL: font objects load any file by path with FreeType (font_variant, their class);
        # getdraw returns the ImageDraw2 module itself, unproxied
        "font",
        "getfont",
        "font_variant",
        "getdraw",
    }
)

READABLE_DUNDERS = frozenset({"__version__"})
"""Dunder attributes trial code may read (a module's version string)."""


ALLOWED_DUNDER_METHODS = frozenset(
    {
        "__init__",
        "__post_init__",
        "__repr__",
        "__str__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__len__",
        "__iter__",
        "__next__",
        "__getitem__",
        "__contains__",
        "__call__",
        "__enter__",
        "__exit__",
        "__add__",
        "__sub__",
        "__mul__",
        "__truediv__",
        "__neg__",
        "__bool__",
    }
)
"""Special methods a trial class may define; others (``__array__``, ``__getattr__``, ``__del__``,
``__reduce__`` ...) would let trial code run inside library calls or reach interpreter internals."""


@dataclass(frozen=True)
class Violation:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def module_allowed(name: str) -> bool:
    """May trial code import ``name``? (Private submodules such as ``numpy._core`` never.)"""
    return module_access(name) == "full"


def _blocked(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BLOCKED_MODULES)


def module_access(name: str) -> str | None:
    """How trial code may reach module ``name`` through imports and module attributes.

    ``"full"``: an allowed module or a public submodule of one; ``"path"``: only as a step towards
    an allowed submodule (``PIL`` on the way to ``PIL.Image``, nothing else of it);
    ``None``: not at all (private, blocked, or a submodule of an allow-listed module: ``cv2.dnn``).
    """
    if name == "__future__":
        return "full"
    parts = name.split(".")
    if any(p.startswith("_") for p in parts) or _blocked(name):
        return None
    if any(name.startswith(m + ".") for m in ATTRIBUTE_ALLOWLISTS):
        return None
    if any(".".join(parts[: i + 1]) in ALLOWED_MODULES for i in range(len(parts))):
        return "full"
    if any(m.startswith(name + ".") for m in ALLOWED_MODULES):
        return "path"
    return None


def attribute_problem(name: object) -> str | None:
    """Why trial code may not read attribute ``name`` at run time (``None``: it may).

    Used by the guarded ``getattr``/``hasattr`` and the module proxies, i.e. for names the AST
    check never saw: interpreter internals, private names, frames/code, file and FFI access.
    """
    if not isinstance(name, str):
        return f"attribute names must be strings, not {type(name).__name__}"
    if name.startswith("_"):
        return f"access to {name!r} is not allowed (private or interpreter internal)"
    if name in FORBIDDEN_ATTRS:
        return f"access to {name!r} is not allowed (file, frame or FFI access)"
    return None


_UNKNOWN = object()
_BLOCKED_PARENTS = frozenset(b.rpartition(".")[0] for b in BLOCKED_MODULES)


def _looks_like_constant(name: str) -> bool:
    """``COLOR_BGR2HSV``, ``COLOR_BGR2Lab``, ``RETR_EXTERNAL``, ``FileNode_INT`` ..."""
    return name[:1].isupper() and (name.isupper() or "_" in name)


def member_problem(module: str, name: str, value: object = _UNKNOWN) -> str | None:
    """Why trial code may not use attribute ``name`` of module ``module`` (``None``: it may).

    On top of :func:`attribute_problem`: blocked submodules (``scipy.io``) and the attribute
    allow-lists (``cv2``). Without ``value`` (the AST check, or a proxy before it reads the
    attribute) a name that looks like a constant passes; with it, only if it is an ``int``.
    """
    full = f"{module}.{name}"
    if module in _BLOCKED_PARENTS and full in BLOCKED_MODULES:
        return f"{full} is not available to trial code"  # deeper ones are behind these
    allowed = ATTRIBUTE_ALLOWLISTS.get(module)
    if allowed is None or name in allowed or name in READABLE_DUNDERS:
        return None
    if _looks_like_constant(name) and (value is _UNKNOWN or type(value) is int):
        return None
    return (
        f"{full} is not available to trial code (only {module}'s functions on in-memory arrays "
        "and its constants are)"
    )


def allowed_imports_text() -> str:
    """The allowed modules for a message: one entry per top-level module, with what of it is
    blocked, in alphabetical order (``PIL.Image, PIL.ImageDraw, ..., scipy (not scipy.io ...)``)."""
    entries: dict[str, str] = {}
    for module in ALLOWED_MODULES - {"__future__"}:
        text = module
        blocked = sorted(b for b in BLOCKED_MODULES if b.startswith(module + "."))
        if blocked:
            text += f" (not {', '.join(blocked)})"
        elif module in ATTRIBUTE_ALLOWLISTS:
            text += " (functions on in-memory images and its constants)"
        entries[module] = text
    return ", ".join(entries[m] for m in sorted(entries, key=str.lower))


class _Checker:
    """Judges one node at a time; the tree is walked iteratively so that a deeply nested
    expression cannot overflow the checker's own stack."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.aliases: dict[str, str] = {}
        """Names bound to a module with an attribute allow-list (``import cv2 as cv``)."""

    def _add(self, node: ast.AST, reason: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), reason))

    def check(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in ATTRIBUTE_ALLOWLISTS:
                        self.aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            method = getattr(self, "visit_" + type(node).__name__, None)
            if method is not None:
                method(node)
        self.violations.sort(key=lambda v: v.line)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not module_allowed(alias.name):
                self._add(
                    node,
                    f"import of {alias.name!r} is not allowed (allowed: {allowed_imports_text()})",
                )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [a.name for a in node.names if a.name != "*"]
        reachable = (
            module_access(module) == "path"
            and names
            and all(module_allowed(f"{module}.{n}") for n in names)
        )
        if node.level or not (module_allowed(module) or reachable):
            self._add(
                node,
                f"import from {module or '.'!r} is not allowed (allowed: {allowed_imports_text()})",
            )
        for name in names:
            if name.startswith("_") or name in FORBIDDEN_ATTRS:
                self._add(node, f"importing {name!r} is not allowed")
            elif not node.level and (problem := member_problem(module, name)):
                self._add(node, problem)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self._add(node, f"use of {node.id!r} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in READABLE_DUNDERS:
            return
        if attr.startswith("__") and attr.endswith("__"):
            self._add(node, f"access to the dunder attribute {attr!r} is not allowed")
        elif attr in FORBIDDEN_ATTRS:
            self._add(node, f"access to {attr!r} is not allowed (file, frame or FFI access)")
        elif attr.startswith("_") and not (
            isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        ):
            # private members of other objects: numpy.lib._npyio_impl.os, random._os ...
            self._add(node, f"access to the private attribute {attr!r} is not allowed")
        elif isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            if problem := member_problem(self.aliases[node.value.id], attr):
                self._add(node, problem)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self._add(node, f"calling {node.func.id}() is not allowed")
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
        ):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                if name.value.startswith("_") or name.value in FORBIDDEN_ATTRS:
                    self._add(node, f"{node.func.id} of {name.value!r} is not allowed")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        name = node.name
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDER_METHODS:
            self._add(node, f"defining the special method {name!r} is not allowed")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if (
            isinstance(value, str)
            and value.startswith("__")
            and value.endswith("__")
            and value not in ("__main__",)
            and value not in ALLOWED_DUNDER_METHODS
        ):
            self._add(node, f"the string {value!r} names an interpreter internal")

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in FORBIDDEN_NAMES:
                self._add(node, f"use of {name!r} is not allowed")


def check_source(source: str, filename: str = "<block>") -> list[Violation]:
    """Policy violations in ``source`` (empty list = allowed), in line order.

    Code that does not parse (a syntax error, null bytes, nesting too deep for the parser) is not
    a violation: it gets an empty list here and its own error when the worker compiles it.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    checker = _Checker()
    checker.check(tree)
    return checker.violations
