"""The static code policy: a pure function over the AST."""

from __future__ import annotations

import pytest

from engine.sandbox.policy import attribute_problem, check_source, module_access, module_allowed


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nx = np.linalg.norm([3, 4])",
        "from scipy.spatial.transform import Rotation",
        "import math, itertools\nfrom collections import deque",
        "class P:\n    def __init__(self, x):\n        self.x = x\n    def __repr__(self):\n        return 'P'",
        "if __name__ == '__main__':\n    pass",
        "obs = get_observation()\nprint(obs['robot0_robotview']['pose_mat'])",
        "def f(:\n",  # a syntax error is reported when it runs, not as a violation
        "from __future__ import annotations\nfrom dataclasses import dataclass",
        "class C:\n    def __init__(self):\n        self._cache = {}\n        cls = type(self)",
        "x = " + "+".join(["1"] * 5000),  # deep expressions do not overflow the checker
    ],
)
def test_ordinary_trial_code_passes(source: str) -> None:
    assert check_source(source) == []


@pytest.mark.parametrize(
    "source, reason",
    [
        ("import os", "import of 'os' is not allowed"),
        ("import subprocess", "import of 'subprocess'"),
        ("import ctypes", "import of 'ctypes'"),
        ("from os import path", "import from 'os'"),
        ("import scipy.io", "import of 'scipy.io'"),
        ("from . import x", "import from"),
        ("exec('1')", "calling exec()"),
        ("eval('1')", "calling eval()"),
        ("compile('1', 'f', 'exec')", "calling compile()"),
        ("open('/etc/passwd')", "calling open()"),
        ("__import__('os')", "'__import__'"),
        ("x = __builtins__", "'__builtins__'"),
        ("().__class__.__bases__[0].__subclasses__()", "dunder attribute"),
        ("f.__globals__", "dunder attribute '__globals__'"),
        ("g = (i for i in [])\ng.gi_frame.f_back", "'gi_frame'"),
        ("import numpy as np\nnp.save('x', np.ones(2))", "'save'"),
        ("import numpy as np\nnp.ones(2).tofile('x')", "'tofile'"),
        ("import numpy as np\nnp.load('x')", "'load'"),
        ("getattr(np, '__dict__')", "getattr of '__dict__'"),
        ("class A:\n    def __array__(self):\n        pass", "special method '__array__'"),
        ("type('A', (), {'__getattr__': 1})", "names an interpreter internal"),
        ("globals()['x'] = 1", "calling globals()"),
        ("breakpoint()", "calling breakpoint()"),
        (
            "import numpy as np\nnp.lib._npyio_impl.os.system('id')",
            "private attribute '_npyio_impl'",
        ),
        ("import random\nrandom._os", "private attribute '_os'"),
        ("import dataclasses\ndataclasses.sys.modules", "access to 'sys'"),
        ("import numpy._core", "import of 'numpy._core'"),
        ("import PIL", "import of 'PIL'"),
        ("import scipy.io", "import of 'scipy.io'"),
        ("from numpy import _core", "importing '_core'"),
        ("hasattr(np, '_core')", "hasattr of '_core'"),
    ],
)
def test_escapes_and_forbidden_access_are_rejected_with_a_line_and_reason(source, reason) -> None:
    violations = check_source(source)
    assert violations, source
    assert any(reason in v.reason for v in violations), [str(v) for v in violations]
    assert all(v.line >= 1 for v in violations)
    assert str(violations[0]).startswith(f"line {violations[0].line}: ")


def test_submodules_of_allowed_modules_are_allowed() -> None:
    assert module_allowed("numpy.linalg") and module_allowed("scipy.spatial.transform")
    assert module_allowed("scipy") and module_allowed("PIL.Image")  # as CaP-X programs use them
    assert not module_allowed("PIL") and not module_allowed("numpyx")


def test_private_submodules_are_never_reachable_and_path_modules_only_lead_on() -> None:
    assert not module_allowed("numpy._core") and not module_allowed("numpy.ctypeslib")
    assert module_access("PIL") == "path" and module_access("scipy.io") is None
    assert module_access("__future__") == "full"


def test_runtime_attribute_rule_refuses_internals_and_file_access_only() -> None:
    assert attribute_problem("linalg") is None and attribute_problem("norm") is None
    for name in ("_npyio_impl", "__class__", "gi_frame", "save", "os", 3):
        assert attribute_problem(name), name
