"""Paired, interleaved ratios: seqlayers against plain PyTorch in ONE process, round by round.

The main suite runs each implementation in its own process, one after the other, so a change in
the machine's load between two processes (other jobs, frequency, caches) lands entirely in their
ratio; on the shared 2-core machine single ratios moved by 15-30% between runs. Here the contenders
of a workload are built side by side in one process and timed in alternation: in every round each
one runs ``--steps`` training steps and ``--steps`` inference steps, in an order that rotates from
round to round. Each round gives one ratio per contender (its median over the round / plain
PyTorch's median over the same round), so slow drifts cancel, and the figure reported is the
median of the rounds' ratios with its spread (min-max over rounds) next to it.

    python -m benchmarks.paired --workload W1,W2,W3,W4,W5,W6 --rounds 15 --steps 5
    python -m benchmarks.paired --impl seqlayers,seqlayers-fit --out benchmarks/results

Contenders: ``torch`` (the 1.00x reference, ``impl_torch`` dense), ``seqlayers`` (layers + Adam +
loss) and ``seqlayers-fit`` (``train_on_batch``), the same code as in the main suite. Keras is
not paired: its backends cannot share a process with each other. CPU time (this process) is the
primary clock; wall time is shown too. One torch thread unless ``--threads``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from . import impl_seqlayers, impl_torch
from .timing import Case
from .workloads import WORKLOADS, get_workload

CONTENDERS = {
    "torch": (impl_torch.build, "dense", "plain PyTorch"),
    "seqlayers": (impl_seqlayers.build, "layers", "seqlayers (layers + Adam + loss)"),
    "seqlayers-fit": (impl_seqlayers.build, "fit", "seqlayers (train_on_batch)"),
}
REFERENCE = "torch"
TARGETS = {"W5": 1.15}  # seqlayers / plain PyTorch, from the recurrent-layers issue; 1.10 elsewhere
DEFAULT_TARGET = 1.10


def _time(fn, steps: int) -> tuple[float, float]:
    """Median CPU ms and median wall ms of ``steps`` calls."""
    cpu, wall = [], []
    for _ in range(steps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(cpu), statistics.median(wall)


def rotated(names: list, r: int) -> list:
    """``names`` started at round ``r``'s place, so each one leads in turn."""
    return names[r % len(names):] + names[:r % len(names)]


def run_workload(name: str, contenders: list[str], rounds: int, steps: int, warmup: int, threads: int,
                 log=print) -> dict:
    """Interleave the contenders on workload ``name``; per round and phase, each one's medians."""
    w = get_workload(name)
    cases: dict[str, Case] = {}
    for c in contenders:
        build, variant, _ = CONTENDERS[c]
        cases[c] = build(w, variant, threads)
    for case in cases.values():
        for _ in range(warmup):
            case.train_step()
            case.infer_step()
    samples = {c: {"train": [], "infer": []} for c in contenders}  # per round: (cpu, wall)
    for r in range(rounds):
        for c in rotated(contenders, r):
            samples[c]["train"].append(_time(cases[c].train_step, steps))
            samples[c]["infer"].append(_time(cases[c].infer_step, steps))
    result = {"workload": name, "title": w.title, "target": TARGETS.get(name, DEFAULT_TARGET), "contenders": {}}
    for c in contenders:
        entry = {}
        for phase in ("train", "infer"):
            own = samples[c][phase]
            ref = samples[REFERENCE][phase]
            cpu_ratios = [a[0] / b[0] for a, b in zip(own, ref)]
            wall_ratios = [a[1] / b[1] for a, b in zip(own, ref)]
            entry[phase] = {
                "cpu_ms": statistics.median(s[0] for s in own), "wall_ms": statistics.median(s[1] for s in own),
                "cpu_ratio": statistics.median(cpu_ratios), "cpu_ratio_min": min(cpu_ratios),
                "cpu_ratio_max": max(cpu_ratios), "wall_ratio": statistics.median(wall_ratios),
                "rounds": [{"cpu_ms": s[0], "wall_ms": s[1]} for s in own]}
        result["contenders"][c] = entry
        if c != REFERENCE:
            log(f"{name} {c:14s} train {entry['train']['cpu_ratio']:.3f}x "
                f"[{entry['train']['cpu_ratio_min']:.2f}-{entry['train']['cpu_ratio_max']:.2f}]  "
                f"infer {entry['infer']['cpu_ratio']:.3f}x "
                f"[{entry['infer']['cpu_ratio_min']:.2f}-{entry['infer']['cpu_ratio_max']:.2f}]  (CPU time)")
    return result


def to_markdown(results: list[dict], meta: dict) -> str:
    lines = [f"Paired run {meta['start']} to {meta['end']} UTC on {meta['machine']}; load average at start "
             f"{meta['load_start']}, at end {meta['load_end']}; {meta['rounds']} rounds x {meta['steps']} steps "
             f"per phase, {meta['threads']} thread(s). Command: `{meta['command']}`.", "",
             "Median over rounds of (contender's median CPU ms in the round / plain PyTorch's in the same "
             "round), [min-max over rounds]; wall-clock ratio after the slash. Absolute medians in ms.", "",
             "| workload | contender | train ratio (CPU) [range] / wall | inference ratio (CPU) [range] / wall "
             "| train CPU ms | inference CPU ms | target | met? |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        ref = res["contenders"][REFERENCE]
        lines.append(f"| {res['workload']} | plain PyTorch | 1.00x | 1.00x | {ref['train']['cpu_ms']:.2f} | "
                     f"{ref['infer']['cpu_ms']:.2f} | | |")
        for c, e in res["contenders"].items():
            if c == REFERENCE:
                continue
            t, i = e["train"], e["infer"]
            met = "yes" if max(t["cpu_ratio"], i["cpu_ratio"]) <= res["target"] else "no"
            lines.append(f"| {res['workload']} | {CONTENDERS[c][2]} | {t['cpu_ratio']:.2f}x "
                         f"[{t['cpu_ratio_min']:.2f}-{t['cpu_ratio_max']:.2f}] / {t['wall_ratio']:.2f}x | "
                         f"{i['cpu_ratio']:.2f}x [{i['cpu_ratio_min']:.2f}-{i['cpu_ratio_max']:.2f}] / "
                         f"{i['wall_ratio']:.2f}x | {t['cpu_ms']:.2f} | {i['cpu_ms']:.2f} | "
                         f"<= {res['target']:.2f}x | {met} |")
    return "\n".join(lines) + "\n"


def _load() -> list[float]:
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return []


def run_meta(prog: str, argv, args, **extra) -> dict:
    """A run's header: start time, load, machine, rounds/steps/threads and the command (``end`` comes later)."""
    return {"start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load_start": _load(),
            "machine": f"{platform.processor() or platform.machine()}, {platform.platform()}",
            "rounds": args.rounds, "steps": args.steps, "threads": args.threads, **extra,
            "command": f"python -m {prog} " + " ".join(sys.argv[1:] if argv is None else argv)}


def finish_meta(meta: dict) -> None:
    """Stamp ``end`` and ``load_end`` on a run's header."""
    meta.update(end=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), load_end=_load())


def write_results(out: Path, stem: str, meta: dict, results: list[dict], md: str) -> None:
    """``OUT/STEM.json`` (meta + results) and ``OUT/STEM.md`` (the tables), and say so."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / f"{stem}.md").write_text(md)
    print(f"wrote {out / f'{stem}.json'} and {out / f'{stem}.md'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default=",".join(WORKLOADS), help="comma-separated (default: all)")
    p.add_argument("--impl", default="seqlayers,seqlayers-fit",
                   help=f"contenders besides torch: {', '.join(CONTENDERS)}")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=5, help="timed steps per contender, phase and round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="folder for paired.json and paired.md (default: print only)")
    args = p.parse_args(argv)
    names = [n.strip().upper() for n in args.workload.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    contenders = [REFERENCE] + [c.strip() for c in args.impl.split(",") if c.strip() and c.strip() != REFERENCE]
    bad = [c for c in contenders if c not in CONTENDERS]
    if bad:
        p.error(f"unknown contender(s) {', '.join(bad)}; choose from {', '.join(CONTENDERS)}")
    import torch

    torch.set_num_threads(args.threads)
    meta = run_meta("benchmarks.paired", argv, args)
    meta["versions"] = {"torch": torch.__version__, "python": platform.python_version()}
    results = [run_workload(n, contenders, args.rounds, args.steps, args.warmup, args.threads) for n in names]
    finish_meta(meta)
    md = to_markdown(results, meta)
    print(md)
    if args.out:
        write_results(Path(args.out), "paired", meta, results, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
