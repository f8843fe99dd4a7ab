"""Timing and memory measurement, and the JSON line every implementation subprocess prints.

Each implementation module (impl_torch, impl_seqlayers, impl_keras) exposes
``build(workload, variant, threads) -> Case``: a zero-argument training step (forward, loss,
backward, Adam update), a zero-argument inference step (forward on the same batch, no gradients)
and the versions of what it runs on. ``main_for(build)`` turns that into a command line:

    python -m benchmarks.impl_torch --workload W1 --steps 20 --warmup 3 [--time T] [--batch B]
    python -m benchmarks.impl_torch --points W1,W2,W1@500x64      # several runs, one import

which prints ``BENCH_JSON {...}`` lines with the medians, min-max and peak memory (per point, a
partial one after inference, then the full one; the last line wins). Every implementation runs in
its own process, so a Keras backend (fixed at import) never meets another one.

Times: wall-clock ms per step (``train``, ``infer``) and the process's CPU ms per step
(``train_cpu``, ``infer_cpu``, all threads counted), each as median and min-max.

Memory: ``peak_rss_mb`` is the process's resident-set high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs`` before each workload, so it includes the framework's import but not the
workloads run before in the same process; ``ru_maxrss`` where that is impossible);
``peak_over_setup_mb`` subtracts the resident size just before the model was built, which is closer
to what the model, its activations and the optimizer cost.

This module imports numpy only (it runs in the Keras JAX/TensorFlow venv too).
"""
from __future__ import annotations

import argparse
import gc
import json
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


MIN_STEPS = 5  # a time budget never cuts a measurement below this many timed steps


def measure(fn: Callable[[], object], warmup: int, steps: int, cpu: list | None = None,
            budget_s: float | None = None) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``steps`` times; return each step's wall time in ms.

    When ``cpu`` is a list, each step's CPU time (this process, all its threads) is appended to it:
    on a shared machine it is far less disturbed by other processes than the wall time.
    ``budget_s`` stops the timed steps early once they have taken that long (never below
    ``MIN_STEPS``); the number of steps actually timed is reported as ``n``.
    """
    for _ in range(warmup):
        fn()
    out = []
    start = time.perf_counter()
    for _ in range(steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1e3)
        if budget_s is not None and len(out) >= MIN_STEPS and time.perf_counter() - start > budget_s:
            break
    return out


def summarize(samples: list[float]) -> dict:
    """Median and min-max of step times in ms."""
    s = sorted(samples)
    n = len(s)
    if n == 0:
        return {"median_ms": None, "min_ms": None, "max_ms": None, "n": 0}
    mid = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return {"median_ms": round(mid, 4), "min_ms": round(s[0], 4), "max_ms": round(s[-1], 4), "n": n}


def _status_kib(field_name: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def rss_now_mb() -> float:
    """Current resident set size of this process, in MiB (Linux /proc; 0 elsewhere)."""
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else 0.0


def reset_peak_rss() -> bool:
    """Reset the resident-set high-water mark (VmHWM) to the current RSS (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """High-water mark of this process's resident set, in MiB: VmHWM (resettable), else ru_maxrss."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024


def run_case(build, workload, variant: str, steps: int, warmup: int, threads: int | None,
             on_partial: Callable[[dict], None] | None = None, budget_s: float | None = None,
             infer_only: bool = False) -> dict:
    """Build the case, time inference then training, and return the result record.

    Inference goes first and its record is handed to ``on_partial``, so that a training step
    whose compilation never ends (Keras JAX on W4) still leaves the inference figures behind.
    ``infer_only`` skips the training measurement (``train_error`` says so).
    """
    gc.collect()
    reset_peak_rss()
    rss_setup = rss_now_mb()
    t0 = time.perf_counter()
    case = build(workload, variant, threads)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    record = {"build_s": round(build_s, 3), "threads": case.threads, "rss_setup_mb": round(rss_setup, 1),
              "versions": {"python": platform.python_version(), **case.versions}, "notes": case.notes}
    infer_cpu, train_cpu = [], []
    infer = measure(case.infer_step, warmup, steps, infer_cpu, budget_s)
    record.update(infer=summarize(infer), infer_cpu=summarize(infer_cpu),
                  infer_samples_ms=[round(v, 4) for v in infer])

    def memory():
        return {"peak_rss_mb": round(peak_rss_mb(), 1), "peak_over_setup_mb": round(peak_rss_mb() - rss_setup, 1)}

    if infer_only:
        return {**record, **memory(), "train_error": "not measured (--infer-only)",
                "measure_s": round(time.perf_counter() - t0, 3)}
    if on_partial is not None:
        on_partial({**record, **memory()})
    train = measure(case.train_step, warmup, steps, train_cpu, budget_s)
    record.update(train=summarize(train), train_cpu=summarize(train_cpu),
                  train_samples_ms=[round(v, 4) for v in train],
                  measure_s=round(time.perf_counter() - t0, 3), **memory())
    return record


def parse_points(spec: str) -> list[tuple[str, int | None, int | None]]:
    """``"W1,W2,W1@50x64"`` -> ``[("W1", None, None), ("W2", None, None), ("W1", 50, 64)]`` (T x B)."""
    points = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, size = item.partition("@")
        T = B = None
        if size:
            T, B = (int(v) for v in size.lower().split("x"))
        points.append((name.upper(), T, B))
    return points


def format_points(points) -> str:
    return ",".join(name if T is None and B is None else f"{name}@{T or ''}x{B or ''}" for name, T, B in points)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Time one implementation on workloads; print BENCH_JSON lines.")
    p.add_argument("--workload", default=None, help="one workload (W1..W6); or use --points")
    p.add_argument("--points", default=None,
                   help="several runs in this one process, e.g. 'W1,W2,W1@50x64' (name[@TxB])")
    p.add_argument("--variant", default="")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--time", type=int, default=None, help="override the sequence length T (with --workload)")
    p.add_argument("--batch", type=int, default=None, help="override the batch size B (with --workload)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: library default)")
    p.add_argument("--budget-s", type=float, default=None,
                   help=f"stop timing a phase after this many seconds (at least {MIN_STEPS} steps)")
    p.add_argument("--infer-only", default="", help="workloads whose training step is not measured, e.g. 'W4'")
    args = p.parse_args(argv)
    if not args.points and not args.workload:
        p.error("give --workload or --points")
    return args


def emit(record: dict) -> None:
    sys.stdout.write(JSON_PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


def main_for(build, argv=None) -> int:
    """Command-line entry of an implementation module: time each point, print one BENCH_JSON line each."""
    args = parse_args(argv)
    points = parse_points(args.points) if args.points else [(args.workload.upper(), args.time, args.batch)]
    infer_only = {w.strip().upper() for w in args.infer_only.split(",") if w.strip()}
    status = 0
    for k, (name, T, B) in enumerate(points):
        w = get_workload(name).with_size(time=T, batch=B)
        head = {"workload": w.name, "variant": args.variant, "batch": w.batch, "time": w.time, "point": k}
        try:
            record = run_case(build, w, args.variant, args.steps, args.warmup, args.threads,
                              on_partial=lambda r, head=head: emit({**head, **r, "partial": True}),
                              budget_s=args.budget_s, infer_only=w.name in infer_only)
        except Skip as e:  # the same reason holds for every point
            for j in range(k, len(points)):
                emit({**head, "point": j, "skipped": str(e)})
            return 0
        except Exception as e:  # reported in the table instead of killing the whole suite
            traceback.print_exc()
            emit({**head, "error": f"{type(e).__name__}: {e}"})
            status = 1
            continue
        emit({**head, **record})
    return status


__all__ = ["Case", "JSON_PREFIX", "MIN_STEPS", "Skip", "format_points", "main_for", "measure", "parse_points",
           "peak_rss_mb", "reset_peak_rss", "rss_now_mb", "run_case", "summarize"]
