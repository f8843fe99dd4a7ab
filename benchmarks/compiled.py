"""Compiled vs eager, paired in ONE process: ``torch.compile`` and ``torch.export`` against eager seqlayers.

For each workload (the suite's networks, by default at a shorter sequence length: a compiled
training step unrolls the recurrence, and compiling it takes minutes at T=100 on a small machine)
three contenders are built from the same model: ``eager`` (the layers + ``torch.optim.Adam`` +
our loss, as ``impl_seqlayers``), ``compiled`` (``torch.compile(model, fullgraph=True)``, the
default inductor backend unless ``--backend``; the loss and the optimizer stay eager) and, for
inference only, ``exported`` (``torch.export.export`` with a dynamic batch and time axis, run as
``ExportedProgram.module()``). They are timed in alternation, round by round, in an order that
rotates, and each round gives one ratio per contender (its median CPU ms / eager's in the same
round); the figure is the median over rounds with the min-max next to it. The first calls (the
compilation) are timed apart. Before timing, the compiled and exported outputs are compared with
eager's.

    python -m benchmarks.compiled                                  # W1, W5, W6 at T=20, 7 rounds
    python -m benchmarks.compiled --workload W2 --time 50 --rounds 5 --out benchmarks/results

One torch thread unless ``--threads``; CPU time of this process is the clock (wall time too).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

from .paired import _load, _time, finish_meta, rotated, run_meta, write_results
from .workloads import WORKLOADS, get_workload, make_batch

PHASES = {"eager": ("train", "infer"), "compiled": ("train", "infer"), "exported": ("infer",)}


def _cases(w, backend: str):
    """{contender: {phase: step}}, the first-call seconds of each, and the largest output gaps to eager."""
    import torch

    import seqlayers as sl
    from seqlayers.training.losses import get as get_loss

    from .impl_seqlayers import build_model, infer_step, train_step

    torch.manual_seed(0)
    data = make_batch(w)
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    loss_fn = get_loss(w.loss)
    eager = build_model(sl, w)
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, fullgraph=True, backend=backend)
    eager.eval()
    dims = {0: torch.export.Dim("B", min=2, max=4096), 1: torch.export.Dim("T", min=2, max=100000)}
    t0 = time.perf_counter()
    exported = torch.export.export(eager, (x,), dynamic_shapes=(dims,)).module()
    export_s = time.perf_counter() - t0

    steps = {"eager": {"train": train_step(eager, x, y, loss_fn), "infer": infer_step(eager, x)},
             "compiled": {"train": train_step(compiled_model, x, y, loss_fn, compiled),
                          "infer": infer_step(compiled_model, x, compiled)},
             "exported": {"infer": infer_step(eager, x, exported)}}
    first, gaps = {}, {}
    ref = steps["eager"]["infer"]()
    for phase in ("infer", "train"):  # inference first: the outputs compared come from the same weights
        for c, phases in steps.items():
            if phase not in phases:
                continue
            t0 = time.perf_counter()
            out = phases[phase]()
            first[f"{c}_{phase}"] = time.perf_counter() - t0 + (export_s if c == "exported" else 0.0)
            if phase == "infer" and c != "eager":
                gaps[c] = float((out - ref).abs().max())
    return steps, first, gaps


def run_workload(w, rounds: int, steps: int, warmup: int, backend: str, log=print) -> dict:
    """Interleave eager, compiled and exported on ``w``; ratios to eager per round and phase."""
    cases, first, gaps = _cases(w, backend)
    log(f"{w.describe()}: first calls {', '.join(f'{k} {v:.1f} s' for k, v in first.items())}; "
        f"max |out - eager| {gaps}")
    for phases in cases.values():
        for fn in phases.values():
            for _ in range(warmup):
                fn()
    names = list(cases)
    samples: dict = {c: {p: [] for p in PHASES[c]} for c in names}
    for r in range(rounds):
        for c in rotated(names, r):
            for phase, fn in cases[c].items():
                samples[c][phase].append(_time(fn, steps))
    result: dict = {"workload": w.name, "title": w.describe(), "first_call_s": first, "max_abs_gap": gaps,
                    "contenders": {}}
    for c in names:
        result["contenders"][c] = {}
        for phase, own in samples[c].items():
            ref = samples["eager"][phase]
            ratios = [a[0] / b[0] for a, b in zip(own, ref)]
            result["contenders"][c][phase] = {
                "cpu_ms": statistics.median(s[0] for s in own), "wall_ms": statistics.median(s[1] for s in own),
                "cpu_ratio": statistics.median(ratios), "cpu_ratio_min": min(ratios), "cpu_ratio_max": max(ratios),
                "wall_ratio": statistics.median(a[1] / b[1] for a, b in zip(own, ref))}
    return result


def to_markdown(results: list[dict], meta: dict) -> str:
    lines = [f"Run {meta['start']} to {meta['end']} UTC on {meta['machine']}, torch {meta['torch']}; load average "
             f"at start {meta['load_start']}, at end {meta['load_end']}; {meta['rounds']} rounds x {meta['steps']} "
             f"steps per phase, {meta['threads']} thread(s), backend {meta['backend']}. "
             f"Command: `{meta['command']}`.", "",
             "Median CPU ms per step; ratio = median over rounds of (contender / eager in the same round) "
             "[min-max over rounds]; first call = the compilation (exported: torch.export + the first call; "
             "eager: its first call), seconds.", "",
             "| workload | contender | train CPU ms | train ratio [range] | inference CPU ms | "
             "inference ratio [range] | first train / inference call | max abs gap to eager |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for c, e in res["contenders"].items():
            cells = []
            for phase in ("train", "infer"):
                p = e.get(phase)
                cells += ["-", "-"] if p is None else [
                    f"{p['cpu_ms']:.2f}", f"{p['cpu_ratio']:.2f}x [{p['cpu_ratio_min']:.2f}-{p['cpu_ratio_max']:.2f}]"]
            f = res["first_call_s"]
            firsts = " / ".join(f"{f[k]:.1f} s" if k in f else "-" for k in (f"{c}_train", f"{c}_infer"))
            gap = res["max_abs_gap"].get(c)
            lines.append(f"| {res['title']} | {c} | {' | '.join(cells)} | {firsts} | "
                         f"{'-' if gap is None else f'{gap:.1e}'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compiled", description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W1,W5,W6", help=f"comma-separated, from {', '.join(WORKLOADS)}")
    p.add_argument("--time", type=int, default=20, help="sequence length T (0: each workload's own)")
    p.add_argument("--batch", type=int, default=0, help="batch size B (0: each workload's own)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=5, help="timed steps per contender, phase and round")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--backend", default="inductor", help="torch.compile backend (default inductor)")
    p.add_argument("--out", default=None, help="folder for compiled.json and compiled.md (default: print only)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    workloads = [get_workload(n.strip()).with_size(time=args.time or None, batch=args.batch or None)
                 for n in args.workload.split(",") if n.strip()]
    meta = run_meta("benchmarks.compiled", argv, args, torch=torch.__version__, backend=args.backend)
    results = []
    for w in workloads:
        results.append(run_workload(w, args.rounds, args.steps, args.warmup, args.backend))
        print(to_markdown(results[-1:], {**meta, "end": "(running)", "load_end": _load()}), flush=True)
    finish_meta(meta)
    md = to_markdown(results, meta)
    print(md)
    if args.out:
        write_results(Path(args.out), "compiled", meta, results, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
