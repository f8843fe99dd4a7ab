"""Timing and memory measurement, and the JSON line every implementation subprocess prints.

Each implementation module (impl_torch, impl_seqlayers, impl_keras) exposes
``build(workload, variant, threads) -> Case``: a zero-argument training step (forward, loss,
backward, Adam update), a zero-argument inference step (forward on the same batch, no gradients)
and the versions of what it runs on. ``main_for(build)`` turns that into a command line:

    python -m benchmarks.impl_torch --workload W1 --steps 20 --warmup 3 [--time T] [--batch B]

which prints ``BENCH_JSON {...}`` lines with the medians, min-max and peak memory (a partial one
after inference, then the full one; the last line wins). Every
implementation runs in its own process, so that peak memory is its own and a Keras backend (fixed
at import) never meets another one.

Times: wall-clock ms per step (``train``, ``infer``) and the process's CPU ms per step
(``train_cpu``, ``infer_cpu``, all threads counted), each as median and min-max.

Memory: ``peak_rss_mb`` is the process's ``ru_maxrss`` (resident set high-water mark, so it includes
the framework's import); ``peak_over_setup_mb`` subtracts the resident size measured just before the
model was built, which is closer to what the model, its activations and the optimizer cost.

This module imports numpy only (it runs in the Keras JAX/TensorFlow venv too).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from .workloads import get_workload

JSON_PREFIX = "BENCH_JSON "


@dataclass
class Case:
    """What an implementation hands to the timer: two zero-argument steps and some facts."""

    train_step: Callable[[], object]
    infer_step: Callable[[], object]
    versions: dict = field(default_factory=dict)
    notes: str = ""
    threads: int | None = None


class Skip(Exception):
    """Raised by ``build`` when an implementation is unavailable here (e.g. a backend not installed)."""


def measure(fn: Callable[[], object], warmup: int, steps: int, cpu: list | None = None) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``steps`` times; return each step's wall time in ms.

    When ``cpu`` is a list, each step's CPU time (this process, all its threads) is appended to it:
    on a shared machine it is far less disturbed by other processes than the wall time.
    """
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1e3)
    return out


def summarize(samples: list[float]) -> dict:
    """Median and min-max of step times in ms."""
    s = sorted(samples)
    n = len(s)
    if n == 0:
        return {"median_ms": None, "min_ms": None, "max_ms": None, "n": 0}
    mid = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return {"median_ms": round(mid, 4), "min_ms": round(s[0], 4), "max_ms": round(s[-1], 4), "n": n}


def rss_now_mb() -> float:
    """Current resident set size of this process, in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def peak_rss_mb() -> float:
    """High-water mark of the resident set size of this process, in MiB (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(build, workload, variant: str, steps: int, warmup: int, threads: int | None,
             on_partial: Callable[[dict], None] | None = None) -> dict:
    """Build the case, time inference then training, and return the result record.

    Inference goes first and its record is handed to ``on_partial``, so that a training step
    whose compilation never ends (Keras JAX on W4) still leaves the inference figures behind.
    """
    rss_setup = rss_now_mb()
    t0 = time.perf_counter()
    case = build(workload, variant, threads)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    record = {"build_s": round(build_s, 3), "threads": case.threads,
              "versions": {"python": platform.python_version(), **case.versions}, "notes": case.notes}
    infer_cpu, train_cpu = [], []
    infer = measure(case.infer_step, warmup, steps, infer_cpu)
    record.update(infer=summarize(infer), infer_cpu=summarize(infer_cpu),
                  infer_samples_ms=[round(v, 4) for v in infer])
    if on_partial is not None:
        on_partial({**record, "peak_rss_mb": round(peak_rss_mb(), 1),
                    "peak_over_setup_mb": round(peak_rss_mb() - rss_setup, 1)})
    train = measure(case.train_step, warmup, steps, train_cpu)
    record.update(train=summarize(train), train_cpu=summarize(train_cpu),
                  train_samples_ms=[round(v, 4) for v in train],
                  measure_s=round(time.perf_counter() - t0, 3),
                  peak_rss_mb=round(peak_rss_mb(), 1), peak_over_setup_mb=round(peak_rss_mb() - rss_setup, 1))
    return record


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Time one implementation on one workload; print BENCH_JSON.")
    p.add_argument("--workload", required=True)
    p.add_argument("--variant", default="")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--time", type=int, default=None, help="override the sequence length T")
    p.add_argument("--batch", type=int, default=None, help="override the batch size B")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: library default)")
    return p.parse_args(argv)


def emit(record: dict) -> None:
    sys.stdout.write(JSON_PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


def main_for(build, argv=None) -> int:
    """Command-line entry of an implementation module: time it and print one BENCH_JSON line."""
    args = parse_args(argv)
    w = get_workload(args.workload).with_size(time=args.time, batch=args.batch)
    head = {"workload": w.name, "variant": args.variant, "batch": w.batch, "time": w.time}
    try:
        record = run_case(build, w, args.variant, args.steps, args.warmup, args.threads,
                          on_partial=lambda r: emit({**head, **r, "partial": True}))
    except Skip as e:
        emit({**head, "skipped": str(e)})
        return 0
    except Exception as e:  # reported in the table instead of killing the whole suite
        traceback.print_exc()
        emit({**head, "error": f"{type(e).__name__}: {e}"})
        return 1
    emit({**head, **record})
    return 0


__all__ = ["Case", "JSON_PREFIX", "Skip", "main_for", "measure", "peak_rss_mb", "rss_now_mb", "run_case",
           "summarize"]
