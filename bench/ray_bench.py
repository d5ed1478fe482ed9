"""Local vs Ray executor throughput on this machine, and how a Ray sweep scales with nodes.

Run: ``python bench/ray_bench.py [--trials 10] [--latency 0.01] [--rpm 500] [--tpm 200000]
[--quick]`` (``--quick``: one trial per condition, so CI keeps this bench running).

Two regimes, each run once with ``--executor local`` and once with ``--executor ray`` (Ray
started on this machine by the head, as ``autocapx run --executor ray`` does without
``--address``), same config and seeds:

* **simulation-bound**: the synthetic coder answers instantly; trials are CPU work (MuJoCo,
  rendering, sandbox start-up), two at a time on two cores.
* **LLM-bound**: the synthetic coder streams at ``--latency`` s/token like a remote model;
  four trials in flight (Ray: ``--cpus-per-trial 0.5``).
* without ``--quick``, the simulation-bound regime once more with spawned sandbox workers
  (``AUTOCAPX_WORKER_START=spawn``, the old path) to show the fork server's gain on both.

Throughput is trials per minute over the sweep itself (the ``sweep_ended`` event's wall time,
so Ray's start-up of a few seconds is reported apart). The estimate at the end projects a
cluster of N such nodes: the simulation-bound rate scales with N until the backbone's rate
limits (requests and tokens per minute, per API key) cap it, using requests and tokens per
trial measured here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.events import SweepEnded  # noqa: E402
from engine.store.reader import SessionReader  # noqa: E402

CONFIG = """
[session]
name = "bench"
trials_per_condition = {n}
concurrency = {c}
quality = "fast"

[[backbones]]
name = "syn"
backend = "synthetic"
profile = "weak"
latency_s_per_token = {latency}

[[conditions]]
name = "P21_a"
library = "none"

[[conditions]]
name = "curated9"
library = "curated9"
"""


def run_sweep(
    tmp: Path, name: str, config: str, flags: list[str], extra_env: dict | None = None
) -> dict:
    path = tmp / f"{name}.toml"
    path.write_text(config)
    sessions = tmp / name
    env = dict(
        os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), RAY_USAGE_STATS_ENABLED="0"
    )
    env.update(extra_env or {})
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "run",
            str(path),
            "--quiet",
            "--sessions-dir",
            str(sessions),
            *flags,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
    db = next(sessions.glob("*/session.db"))
    reader = SessionReader(db)
    try:
        ended = reader.events_since(0, kinds=(SweepEnded.kind,))
        done = sorted(reader.trials(status="done"), key=lambda t: t["trial_key"])
    finally:
        reader.close()
    wall = ended[-1].event.wall_s
    n = len(done)
    blocks = sum(t["n_blocks"] for t in done)
    tokens = sum(t["prompt_tokens"] + t["completion_tokens"] for t in done)
    ok = sum(t["final_success"] for t in done)
    trial_s = sum(t["wall_time_s"] for t in done) / n
    results = [(t["trial_key"], t["final_success"], t["n_blocks"], t["end_reason"]) for t in done]
    return {
        "trials": n,
        "successes": ok,
        "sweep_s": wall,
        "process_s": total,
        "per_min": 60.0 * n / wall,
        "requests_per_trial": blocks / n,
        "tokens_per_trial": tokens / n,
        "trial_s": trial_s,
        "results": results,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10, help="trials per condition (2 conditions)")
    ap.add_argument("--latency", type=float, default=0.01, help="LLM-bound regime: s/token")
    ap.add_argument("--rpm", type=float, default=500.0, help="estimate: requests/min per key")
    ap.add_argument("--tpm", type=float, default=200_000.0, help="estimate: tokens/min per key")
    ap.add_argument("--quick", action="store_true", help="one trial per condition")
    args = ap.parse_args()
    if args.quick:
        args.trials = 1

    rows = {}
    with tempfile.TemporaryDirectory(prefix="raybench") as tmp_name:
        tmp = Path(tmp_name)
        sim_config = CONFIG.format(n=args.trials, c=2, latency=0.0)
        regimes = {
            "simulation-bound": (sim_config, ["--cpus-per-trial", "1"], {}),
            "LLM-bound": (
                CONFIG.format(n=args.trials, c=4, latency=args.latency),
                ["--cpus-per-trial", "0.5"],
                {},
            ),
        }
        if not args.quick:  # the old path, spawned workers: the fork server's gain, same run
            old = {"AUTOCAPX_WORKER_START": "spawn"}
            regimes["sim-bound, spawn"] = (sim_config, ["--cpus-per-trial", "1"], old)
        for regime, (config, ray_flags, extra) in regimes.items():
            local = run_sweep(tmp, f"{regime}-local", config, [], extra)
            flags = ["--executor", "ray", *ray_flags]
            ray = run_sweep(tmp, f"{regime}-ray", config, flags, extra)
            same = local["results"] == ray["results"]
            rows[regime] = (local, ray, same)

    print(f"Sweeps of {2 * args.trials} synthetic trials on this machine ({os.cpu_count()} cores)")
    print(
        f"{'regime':18} {'local /min':>10} {'ray /min':>9} {'ray/local':>9} {'ray start-up':>12}  same results"
    )
    for regime, (local, ray, same) in rows.items():
        startup = (ray["process_s"] - ray["sweep_s"]) - (local["process_s"] - local["sweep_s"])
        print(
            f"{regime:18} {local['per_min']:10.1f} {ray['per_min']:9.1f} "
            f"{ray['per_min'] / local['per_min']:8.2f}x {startup:10.1f} s  {'yes' if same else 'NO'}"
        )

    if "sim-bound, spawn" in rows:
        for i, where in ((0, "local"), (1, "ray")):
            new, old = (
                rows["simulation-bound"][i]["per_min"],
                rows["sim-bound, spawn"][i]["per_min"],
            )
            print(f"fork server vs spawned workers, simulation-bound, {where}: {new / old:.2f}x")
    sim = rows["simulation-bound"][1]
    llm = rows["LLM-bound"][1]
    per_node = sim["per_min"]
    slots = 4  # trial slots per node in the LLM-bound regime: 2 cores / 0.5 CPU per trial
    in_flight = 60.0 * slots / llm["trial_s"]
    req, tok = llm["requests_per_trial"], llm["tokens_per_trial"]
    cap = min(args.rpm / req, args.tpm / tok)
    print()
    print("Estimate for N nodes like this one (trials/min; the smallest ceiling wins):")
    print(f"  simulation: {per_node:.1f} per node (simulation-bound rate above)")
    print(
        f"  LLM latency: {slots} slots per node / {llm['trial_s']:.1f} s per LLM-bound trial "
        f"= {in_flight:.1f} per node"
    )
    print(
        f"  rate limit of one API key at {args.rpm:.0f} RPM / {args.tpm:,.0f} TPM: "
        f"min({args.rpm:.0f}/{req:.1f} requests, {args.tpm:,.0f}/{tok:,.0f} tokens per trial) "
        f"= {cap:.1f}, whatever N"
    )
    print(f"{'nodes':>5} {'simulation':>11} {'LLM latency':>12} {'rate limit':>11} {'expected':>9}")
    for nodes in (1, 2, 4, 8, 16, 32):
        ceilings = (nodes * per_node, nodes * in_flight, cap)
        print(
            f"{nodes:5d} {ceilings[0]:11.1f} {ceilings[1]:12.1f} {ceilings[2]:11.1f} "
            f"{min(ceilings):9.1f}"
        )


if __name__ == "__main__":
    main()
