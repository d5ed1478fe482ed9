"""A tiny environment without a simulator, for testing the sandbox itself quickly."""

from __future__ import annotations

import math

import numpy as np


class ToyEnv:
    """A counter the trial code can bump; status/summary report it like a robot would."""

    def __init__(self, start: int = 0) -> None:
        self.count = start
        self.listener = None
        self.namespace = {
            "np": np,
            "math": math,
            "bump": self.bump,
            "count": self.get,
            "native_strlen": self.native_strlen,
            "save_log": self.save_log,
        }

    def bump(self, n: int = 1) -> int:
        """Add n to the counter (streams a status update)."""
        self.count += int(n)
        if self.listener is not None:
            self.listener(self.status())
        return self.count

    def get(self) -> int:
        return self.count

    def native_strlen(self, text: str) -> int:
        """Length via libc's strlen: API code may use native code (as OpenGL does via ctypes)."""
        import ctypes

        return int(ctypes.CDLL(None).strlen(text.encode()))

    def save_log(self, path: str) -> None:
        """Writes a file on the trial's behalf: refused even inside an API call."""
        with open(path, "w") as f:
            f.write(str(self.count))

    def set_status_listener(self, listener) -> None:
        self.listener = listener

    def status(self) -> dict:
        return {"phase": "idle", "count": self.count}

    def summary(self) -> dict:
        return {"count": self.count, "success": self.count >= 3, "reward": min(self.count / 3, 1.0)}


def build_toy(start: int = 0) -> ToyEnv:
    return ToyEnv(start)
