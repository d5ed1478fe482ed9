"""A real Ray cluster on this machine for the tests: a head node and worker nodes on 127.0.0.1.

Each node is a ``ray start --block`` process in its own session, so stopping the cluster stops
exactly the processes this test started (never a Ray the developer runs beside it). The head
gets no CPUs, so every trial runs on a worker node, as on a real cluster. The cluster uses
Ray's token authentication with a token made for it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    def __init__(self, workers: int = 2, cpus_per_worker: int = 1) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray puts unix sockets under it (108-byte path limit).
        self.temp_dir = tempfile.mkdtemp(prefix="rayt", dir="/tmp")
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.procs: list[subprocess.Popen] = []
        # Token authentication (Ray binds on all interfaces), with a token of our own, so a
        # token or a cluster the developer has in ~/.ray changes nothing. Drivers joining the
        # cluster need the same settings: see driver_env.
        self.driver_env = {
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
        }
        self.env = dict(os.environ, **self.driver_env)
        self.env.pop("RAY_ADDRESS", None)

    def _start(self, *args: str) -> None:
        log = open(Path(self.temp_dir) / f"node{len(self.procs)}.log", "w")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    def start(self, timeout_s: float = 120.0) -> RayCluster:
        common = ["--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats"]
        self._start(
            "--head",
            "--port",
            str(self.port),
            "--num-cpus",
            "0",
            "--include-dashboard",
            "false",
            "--temp-dir",
            self.temp_dir,
            *common,
        )
        self._wait(lambda: _listening(self.port), timeout_s, "the head node")
        for n in range(1, self.workers + 1):  # one at a time: simultaneous joins can collide
            self._start("--address", self.address, "--num-cpus", str(self.cpus_per_worker), *common)
            self._wait(lambda n=n: self.alive_nodes() == n + 1, timeout_s, f"worker node {n}")
        return self

    def add_worker(self, timeout_s: float = 120.0) -> None:
        """One more worker node (waits until the cluster sees it)."""
        before = self.alive_nodes()
        self._start(
            "--address",
            self.address,
            "--num-cpus",
            str(self.cpus_per_worker),
            "--object-store-memory",
            str(80 * 1024 * 1024),
            "--disable-usage-stats",
        )
        self._wait(lambda: self.alive_nodes() == before + 1, timeout_s, "the added worker node")

    def kill_node_running(self, worker_pid: int) -> set[int]:
        """SIGKILL every process of the worker node that hosts ``worker_pid`` (a machine lost):
        the node's raylet is the worker's parent, and each node is its own process group.
        Returns the pids of the node's Ray workers, so a test can tell which trials it held."""
        raylet = _parent(worker_pid)
        group = os.getpgid(raylet)
        if group not in {p.pid for p in self.procs[1:]}:
            raise RuntimeError(f"pid {worker_pid} does not run on a worker node of this cluster")
        workers = [  # Ray workers are the raylet's children, each in its own process group
            int(d.name)
            for d in Path("/proc").iterdir()
            if d.name.isdigit() and _parent(d.name) == raylet
        ]
        os.killpg(group, signal.SIGKILL)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return set(workers)

    def alive_nodes(self) -> int:
        out = subprocess.run(
            [RAY, "status", "--address", self.address],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        active = out.split("Active:", 1)[-1].split("Pending:", 1)[0] if "Active:" in out else ""
        return sum(1 for line in active.splitlines() if line.strip().startswith("1 node_"))

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        t0 = time.monotonic()
        while not ready():
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    log = (Path(self.temp_dir) / f"node{i}.log").read_text().strip().splitlines()
                    raise RuntimeError(
                        f"`ray start` exited ({proc.returncode}) starting {what}: "
                        + " | ".join(log[-5:])
                    )
            if time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"{what} did not come up in {timeout_s:.0f} s")
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in reversed(self.procs):  # workers first, then the head
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever the node left behind in its session
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _parent(pid: int | str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
