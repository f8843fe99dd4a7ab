"""The implementations compared, and how each one is run: one subprocess per (implementation, workload).

Each subprocess prints one ``BENCH_JSON`` line (see ``timing.py``); a crash, a time-out or a missing
backend becomes a record with ``error`` or ``skipped`` instead of stopping the suite.

Keras with the JAX and TensorFlow backends runs in a separate venv (``.venv-bench``, made by
``make bench``; or the interpreter named by ``SEQLAYERS_BENCH_PYTHON``), so they never become
dependencies of the package. Everything else runs in the interpreter running the suite.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .timing import JSON_PREFIX

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Impl:
    """One contender: ``python -m <module> --variant <variant>`` under ``env``, in the main or bench venv."""

    name: str
    module: str
    variant: str
    label: str
    venv: str = "main"  # "main": the running interpreter; "bench": .venv-bench
    env: tuple = ()
    only: tuple = ()  # workloads it applies to (empty: all)

    def applies_to(self, workload: str) -> bool:
        return not self.only or workload in self.only


IMPLEMENTATIONS: list[Impl] = [
    Impl("torch", "benchmarks.impl_torch", "dense", "plain PyTorch"),
    Impl("torch-packed", "benchmarks.impl_torch", "packed", "plain PyTorch, pack_padded_sequence", only=("W5",)),
    Impl("seqlayers", "benchmarks.impl_seqlayers", "layers", "seqlayers (layers + Adam + loss)"),
    Impl("seqlayers-fit", "benchmarks.impl_seqlayers", "fit", "seqlayers (train_on_batch)"),
    Impl("keras-torch", "benchmarks.impl_keras", "torch", "Keras 3, torch backend", env=(("KERAS_BACKEND", "torch"),)),
    Impl("keras-jax", "benchmarks.impl_keras", "jax", "Keras 3, JAX backend", venv="bench",
         env=(("KERAS_BACKEND", "jax"),)),
    Impl("keras-tf", "benchmarks.impl_keras", "tensorflow", "Keras 3, TensorFlow backend", venv="bench",
         env=(("KERAS_BACKEND", "tensorflow"),)),
]
BY_NAME = {i.name: i for i in IMPLEMENTATIONS}
REFERENCE = "torch"


def bench_python() -> str | None:
    """The interpreter of the benchmark venv holding Keras's JAX/TensorFlow backends, if any."""
    override = os.environ.get("SEQLAYERS_BENCH_PYTHON")
    if override:
        return override
    p = REPO / ".venv-bench" / "bin" / "python"
    return str(p) if p.exists() else None


def select(names: list[str] | None) -> list[Impl]:
    if not names:
        return list(IMPLEMENTATIONS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown implementation(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}.")
    return [BY_NAME[n] for n in names]


def run_one(impl: Impl, workload: str, steps: int, warmup: int, time_steps: int | None = None,
            batch: int | None = None, threads: int | None = None, timeout: float = 600) -> dict:
    """Run one implementation on one workload in a fresh process and return its record."""
    head = {"impl": impl.name, "label": impl.label, "workload": workload}
    python = sys.executable if impl.venv == "main" else bench_python()
    if python is None:
        return {**head, "skipped": "no benchmark venv (.venv-bench); `make bench` creates it"}
    cmd = [python, "-m", impl.module, "--workload", workload, "--variant", impl.variant,
           "--steps", str(steps), "--warmup", str(warmup)]
    for flag, value in (("--time", time_steps), ("--batch", batch), ("--threads", threads)):
        if value is not None:
            cmd += [flag, str(value)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **dict(impl.env)}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rec = _last_record(out)
        why = f"timed out after {timeout:.0f} s"
        if rec is not None:  # inference was measured; training (its compilation, for XLA) ran out of time
            return {**head, **rec, "train_error": why, "wall_s": round(timeout, 2)}
        return {**head, "error": why}
    wall = round(time.perf_counter() - t0, 2)
    rec = _last_record(proc.stdout)
    if rec is not None:
        if rec.get("partial"):
            rec["train_error"] = f"training step failed (exit {proc.returncode})"
        return {**head, **rec, "wall_s": wall}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {**head, "error": f"exit {proc.returncode}: " + " | ".join(tail), "wall_s": wall}


def _last_record(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(JSON_PREFIX):
            return json.loads(line[len(JSON_PREFIX):])
    return None


__all__ = ["BY_NAME", "IMPLEMENTATIONS", "Impl", "REFERENCE", "bench_python", "run_one", "select"]
