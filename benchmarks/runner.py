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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .timing import JSON_PREFIX, format_points

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
    infer_only: tuple = ()  # workloads whose training step is not measured (see the note where set)

    def applies_to(self, workload: str) -> bool:
        return not self.only or workload in self.only


IMPLEMENTATIONS: list[Impl] = [
    Impl("torch", "benchmarks.impl_torch", "dense", "plain PyTorch"),
    Impl("torch-packed", "benchmarks.impl_torch", "packed", "plain PyTorch, pack_padded_sequence", only=("W5",)),
    Impl("seqlayers", "benchmarks.impl_seqlayers", "layers", "seqlayers (layers + Adam + loss)"),
    Impl("seqlayers-fit", "benchmarks.impl_seqlayers", "fit", "seqlayers (train_on_batch)"),
    Impl("keras-torch", "benchmarks.impl_keras", "torch", "Keras 3, torch backend", env=(("KERAS_BACKEND", "torch"),)),
    # W4's training step under Keras JAX: XLA had not finished compiling it after 10 minutes on the
    # shared 2-core machine (its compile time grows with T), so the suite measures W4 inference only.
    Impl("keras-jax", "benchmarks.impl_keras", "jax", "Keras 3, JAX backend", venv="bench",
         env=(("KERAS_BACKEND", "jax"),), infer_only=("W4",)),
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
            batch: int | None = None, threads: int | None = None, timeout: float = 600,
            budget_s: float | None = None) -> dict:
    """Run one implementation on one workload in a fresh process and return its record."""
    return run_points(impl, [(workload, time_steps, batch)], steps, warmup, threads, timeout, budget_s)[0]


def run_points(impl: Impl, points: list, steps: int, warmup: int, threads: int | None = None,
               timeout: float = 600, budget_s: float | None = None, on_record=None) -> list[dict]:
    """Run one implementation at several ``(workload, T, B)`` points in ONE process (imports paid once).

    Returns a record per point, in order; ``on_record(record)`` is called as each one arrives. A
    point the process did not reach (crash, ``timeout`` seconds exceeded) gets an ``error`` record.
    """
    heads = [{"impl": impl.name, "label": impl.label, "workload": name} for name, _, _ in points]
    python = sys.executable if impl.venv == "main" else bench_python()
    if python is None:
        recs = [{**h, "skipped": "no benchmark venv (.venv-bench); `make bench` creates it"} for h in heads]
        for r in recs:
            on_record and on_record(r)
        return recs
    cmd = [python, "-m", impl.module, "--points", format_points(points), "--variant", impl.variant,
           "--steps", str(steps), "--warmup", str(warmup)]
    for flag, value in (("--threads", threads), ("--budget-s", budget_s)):
        if value is not None:
            cmd += [flag, str(value)]
    infer_only = [name for name, _, _ in points if name in impl.infer_only]
    if infer_only:
        cmd += ["--infer-only", ",".join(sorted(set(infer_only)))]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **dict(impl.env)}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    t0 = time.perf_counter()
    found: dict[int, dict] = {}
    err_tail: list[str] = []
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        killed: list[bool] = []
        killer = threading.Timer(timeout, lambda: (killed.append(True), proc.kill()))
        killer.start()
        drain = threading.Thread(target=lambda: err_tail.extend(proc.stderr.read().splitlines()[-3:]))
        drain.start()
        try:
            for line in proc.stdout:
                if not line.startswith(JSON_PREFIX):
                    continue
                rec = json.loads(line[len(JSON_PREFIX):])
                k = rec.get("point", 0)
                rec = {**heads[k], **rec, "wall_s": round(time.perf_counter() - t0, 2)}
                found[k] = rec
                if not rec.get("partial") and on_record:
                    on_record(rec)
            proc.wait()
        finally:
            killer.cancel()
            drain.join()
    timed_out = bool(killed)
    why = f"timed out after {timeout:.0f} s" if timed_out else f"exit {proc.returncode}"
    out = []
    for k, head in enumerate(heads):
        rec = found.get(k)
        if rec is None:
            rec = {**head, "error": why + (": " + " | ".join(err_tail) if err_tail and not timed_out else "")}
            on_record and on_record(rec)
        elif rec.get("partial"):  # inference measured; the training step (its XLA compilation) did not finish
            rec["train_error"] = f"training step {why}"
            on_record and on_record(rec)
        out.append(rec)
    return out


__all__ = ["BY_NAME", "IMPLEMENTATIONS", "Impl", "REFERENCE", "bench_python", "run_one", "run_points", "select"]
