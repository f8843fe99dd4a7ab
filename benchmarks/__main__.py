"""``python -m benchmarks``: the workloads, the W1 scaling study and the inference parts; tables, JSON, plots.

    python -m benchmarks                         # everything: 20 timed steps + 3 warm-up, scaling, inference
    python -m benchmarks --quick                 # a few steps, two scaling points: for development
    python -m benchmarks --workload W4 --impl torch --impl seqlayers --impl keras-jax --no-scaling
    python -m benchmarks --inference none        # the main suite only
    python -m benchmarks --impl torch --inference streaming,roofline --no-scaling

First every implementation runs the workloads in its own process (train and inference step, wall and
CPU time, memory; Keras on each backend there is). Then, in this process, ``benchmarks.inference``'s
parts (``--inference``): inference paired against plain PyTorch and ONNX Runtime with the roofline,
the streaming workload (seqlayers, plain PyTorch, ONNX Runtime, Keras on each backend), the LSTM
scaling in T, B and H with a PNG, and the training step paired against plain PyTorch. The report
ends with one table of inference ratios against PyTorch, ONNX Runtime and every Keras backend.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from . import inference, report, scaling
from .runner import IMPLEMENTATIONS, bench_python, run_points, select
from .workloads import WORKLOADS

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--workload", action="append", help="W1..W6, repeatable or comma-separated (default: all)")
    p.add_argument("--impl", action="append",
                   help="implementation, repeatable or comma-separated (default: all): "
                        + ", ".join(i.name for i in IMPLEMENTATIONS))
    p.add_argument("--quick", action="store_true", help="3 timed steps + 1 warm-up, 2 scaling points per sweep")
    p.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 20, quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 3, quick 1)")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads of every library (default 1: comparable, and steady on a shared "
                        "machine; 0: each library's own default)")
    p.add_argument("--no-scaling", action="store_true",
                   help="skip the scaling studies (W1's, and the inference part's T/B/H sweep)")
    p.add_argument("--scaling-only", action="store_true", help="run only the scaling studies")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per subprocess")
    p.add_argument("--budget-s", type=float, default=None,
                   help="stop timing a phase after this many seconds, keeping at least 5 steps "
                        "(default 10, so slow contenders do not hold the suite up; 0: none)")
    p.add_argument("--scaling-impl", action="append",
                   help="implementations in the scaling study (default: torch, seqlayers, keras-torch, keras-tf)")
    p.add_argument("--inference", default=",".join(inference.PARTS),
                   help=f"the paired inference parts run after the workloads, comma-separated (default all: "
                        f"{', '.join(inference.PARTS)}; none: skip them); --no-scaling drops scaling, "
                        f"--scaling-only keeps only it")
    p.add_argument("--inference-rounds", type=int, default=None,
                   help="rounds of the paired inference parts (default 7, quick 2)")
    p.add_argument("--inference-steps", type=int, default=None,
                   help="calls per contender and round in the paired inference parts (default 3, quick 1)")
    p.add_argument("--streaming-calls", type=int, default=None,
                   help="streaming calls per round (default 200, quick 20)")
    return p.parse_args(argv)


def inference_parts(args) -> list[str]:
    """The ``--inference`` parts, less scaling under ``--no-scaling``, only scaling under ``--scaling-only``."""
    parts = inference.parse_parts(args.inference)
    if args.no_scaling:
        parts = [p for p in parts if p != "scaling"]
    if args.scaling_only:
        parts = [p for p in parts if p == "scaling"]
    return parts


def _split(values):
    return [v.strip() for x in values or [] for v in x.split(",") if v.strip()]


def _short(rec):
    if "infer" not in rec:
        return ("skipped: " + rec["skipped"]) if "skipped" in rec else "ERROR: " + str(rec.get("error"))
    train = report.fmt_ms(rec["train"]) + " ms" if "train" in rec else rec.get("train_error")
    cpu = "/".join(report.fmt_cpu(rec, p) for p in ("train_cpu", "infer_cpu"))
    return f"train {train}, infer {report.fmt_ms(rec['infer'])} ms, CPU {cpu} ms (at {rec.get('wall_s', 0):.0f} s)"


def main(argv=None) -> int:
    args = parse_args(argv)
    steps = args.steps or (3 if args.quick else 20)
    args.budget_s = 10.0 if args.budget_s is None else (args.budget_s or None)
    args.threads = args.threads or None
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    workloads = [w.upper() for w in _split(args.workload)] or list(WORKLOADS)
    bad = [w for w in workloads if w not in WORKLOADS]
    if bad:
        raise SystemExit(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(WORKLOADS)}.")
    impls = select(_split(args.impl))
    load_start = [round(v, 2) for v in os.getloadavg()]
    utc_start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    t_start = time.perf_counter()
    print(f"benchmarks: {len(workloads)} workload(s) x {len(impls)} implementation(s), {steps} steps "
          f"+ {warmup} warm-up; Keras JAX/TF venv: {bench_python() or 'none'}", flush=True)

    records = []
    if not args.scaling_only:
        for impl in impls:  # one process per implementation runs all its workloads (imports paid once)
            points = [(name, None, None) for name in workloads if impl.applies_to(name)]
            if points:
                records += run_points(impl, points, steps, warmup, threads=args.threads, timeout=args.timeout,
                                      budget_s=args.budget_s,
                                      on_record=lambda r: print(f"{r['workload']} {r['impl']:14s} {_short(r)}",
                                                                flush=True))
        order = {name: k for k, name in enumerate(workloads)}
        records.sort(key=lambda r: order[r["workload"]])  # stable: implementation order kept per workload
        report.add_ratios(records)

    scaling_records = []
    if not args.no_scaling and (args.scaling_only or "W1" in workloads):
        times = scaling.QUICK_TIMES if args.quick else scaling.FULL_TIMES
        batches = scaling.QUICK_BATCHES if args.quick else scaling.FULL_BATCHES
        wanted = _split(args.scaling_impl) or list(scaling.DEFAULT_IMPLS)
        s_impls = [i for i in impls if i.name in wanted]
        scaling_records = scaling.run_scaling(s_impls, times, batches, steps=min(steps, 5), warmup=min(warmup, 1),
                                              threads=args.threads, timeout=args.timeout, budget_s=args.budget_s)
        scaling.add_w1_points(scaling_records, records)

    inf = None
    parts = inference_parts(args)
    if parts:
        print(f"\ninference parts: {', '.join(parts)} (paired, one thread)", flush=True)
        inf = inference.run(parts, workloads, args.inference_rounds or (2 if args.quick else 7),
                            args.inference_steps or (1 if args.quick else 3),
                            args.streaming_calls or (20 if args.quick else 200), quick=args.quick)

    results = {
        "budget_s": args.budget_s,
        "command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                else sys.argv[1:])),
        "steps": steps, "warmup": warmup, "threads": args.threads,
        "workloads": workloads if not args.scaling_only else [],
        "load_start": load_start, "utc_start": utc_start, "machine": report.machine_info(),
        "elapsed_s": round(time.perf_counter() - t_start, 1),
        "records": records, "scaling": scaling_records,
        "scaling_steps": min(steps, 5), "scaling_warmup": min(warmup, 1),
    }
    if inf is not None:
        inf["command"] = results["command"]
        results["inference"] = inf
        paths = {f"inference_{k}": v for k, v in enumerate(inference.write(inf, args.out))}
    else:
        paths = {}
    paths.update(report.write(results, args.out))
    if scaling_records:
        png = scaling.plot(scaling_records, Path(args.out) / "scaling_w1.png")
        if png:
            paths["plot"] = png
    print()
    print(report.markdown(results))
    print(f"\nwrote {', '.join(paths.values())} in {results['elapsed_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
