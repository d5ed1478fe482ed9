"""The static code policy: a pure function over the AST."""

from __future__ import annotations

import pytest

from engine.sandbox.policy import check_source, module_allowed


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
    assert not module_allowed("scipy") and not module_allowed("numpyx")
