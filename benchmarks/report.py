"""Tables and JSON from the records: ms per step (median [min-max]), ratio to plain PyTorch, memory.

Ratios are taken against the plain-PyTorch record of the same workload in the same run (W5:
against the dense plain-PyTorch step, whose recurrence ignores the mask).
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from seqlayers.utils import cpu_model

from . import inference
from .runner import REFERENCE
from .workloads import WORKLOADS

TIME_NOTE = ("wall ms: median [min-max] of wall-clock time per step; CPU ms: median of the process's CPU time "
             "per step (all its threads), which other processes on a shared machine disturb much less.")
MEMORY_NOTE = ("peak RSS = the process's resident-set high-water mark (VmHWM, reset before each workload, so it "
               "includes the framework's import; inference then training); (+N) = growth over the RSS just before "
               "the model was built.")


def machine_info() -> dict:
    """Where the figures come from: CPU, cores, memory, load, time."""
    cpu = cpu_model()
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gb, "platform": platform.platform(),
            "python": platform.python_version(), "loadavg": load,
            "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "gpu": "none (GPU figures not measured)"}


def fmt_ms(s: dict | None, steps: int | None = None) -> str:
    """``median [min-max]``, with ``(n=K)`` when a time budget cut the run below ``steps`` steps."""
    if not s or s.get("median_ms") is None:
        return "-"
    med, lo, hi = s["median_ms"], s["min_ms"], s["max_ms"]
    digits = 2 if med < 10 else 1 if med < 100 else 0
    cut = f" (n={s['n']})" if steps and s.get("n", steps) < steps else ""
    return f"{med:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]{cut}"


def ratio(rec: dict, ref: dict | None, phase: str) -> float | None:
    try:
        return rec[phase]["median_ms"] / ref[phase]["median_ms"]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


PHASES = ("train", "infer", "train_cpu", "infer_cpu")


def add_ratios(records: list[dict]) -> None:
    """Attach ``<phase>_ratio`` (to plain PyTorch, same workload, same run) for each timed phase."""
    refs = {r["workload"]: r for r in records if r.get("impl") == REFERENCE and "train" in r}
    for r in records:
        ref = refs.get(r["workload"])
        for phase in PHASES:
            r[f"{phase}_ratio"] = ratio(r, ref, phase)


def fmt_cpu(rec: dict, phase: str) -> str:
    s = rec.get(phase)
    return "-" if not s or s.get("median_ms") is None else fmt_ms(s).split(" ")[0]


def workload_table(name: str, records: list[dict], steps: int | None = None) -> str:
    w = WORKLOADS[name]
    rows = [f"### {w.name}: {w.title} (B={w.batch}, T={w.time})", "",
            "| implementation | train step, wall ms | / PyTorch | CPU ms | / PyTorch "
            "| inference, wall ms | / PyTorch | CPU ms | / PyTorch | peak RSS MiB (+growth) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r["workload"] != name:
            continue
        label = r.get("label", r.get("impl"))
        if "infer" not in r:
            why = r.get("skipped") or r.get("error") or "no result"
            rows.append(f"| {label} | {'skipped' if 'skipped' in r else 'error'}: {why[:120]} |" + " |" * 9)
            continue
        mem = f"{r['peak_rss_mb']:.0f} (+{max(r['peak_over_setup_mb'], 0):.0f})"
        cells = []
        for phase in ("train", "infer"):
            if phase not in r:
                cells += [r.get("train_error", "not measured"), "-", "-", "-"]
                continue
            cells += [fmt_ms(r[phase], steps), fmt_ratio(r.get(f"{phase}_ratio")),
                      fmt_cpu(r, f"{phase}_cpu"), fmt_ratio(r.get(f"{phase}_cpu_ratio"))]
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {mem} |")
    return "\n".join(rows)


def versions_of(records: list[dict]) -> dict:
    out: dict = {}
    for r in records:
        for k, v in (r.get("versions") or {}).items():
            out.setdefault(k, v)
    return out


def ratio_summary(records: list[dict]) -> str:
    """One line per workload: seqlayers / PyTorch, and seqlayers / the fastest Keras backend."""
    lines = ["Ratios of medians, wall clock (CPU time in parentheses); below 1 means seqlayers is faster.", "",
             "| workload | seqlayers / PyTorch, train | inference | seqlayers / fastest Keras, train | inference |",
             "|---|---|---|---|---|"]
    names = sorted({r["workload"] for r in records})
    for name in names:
        rs = {r["impl"]: r for r in records if r["workload"] == name and "infer" in r}
        s = rs.get("seqlayers")
        if s is None or "train" not in s:
            continue
        cells = [f"{fmt_ratio(s.get(f'{p}_ratio'))} ({fmt_ratio(s.get(f'{p}_cpu_ratio'))})" for p in ("train", "infer")]
        for phase in ("train", "infer"):
            keras = [r for k, r in rs.items() if k.startswith("keras-") and phase in r]
            best = min(keras, key=lambda r: r[phase]["median_ms"]) if keras else None
            cells.append(best and f"{ratio(s, best, phase):.2f}x ({ratio(s, best, phase + '_cpu'):.2f}x) "
                                  f"vs {best['impl']}" or "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def inference_summary(records: list[dict], inf: dict) -> str:
    """One row per workload: seqlayers's inference time over plain PyTorch's, ONNX Runtime's and each Keras backend's.

    PyTorch and ONNX Runtime: the paired ratios of ``benchmarks.inference`` (one process, interleaved).
    Keras: the main suite's CPU-time medians (seqlayers's record over the backend's, separate processes).
    """
    keras = list(dict.fromkeys(r["impl"] for r in records if r["impl"].startswith("keras-")))
    lines = ["Inference, seqlayers / each (below 1: seqlayers is faster). PyTorch and ONNX Runtime: paired in one "
             "process, median over rounds [min-max]; Keras: the workload tables' CPU medians (one process each).", "",
             "| workload | / plain PyTorch | / ONNX Runtime | " + " | ".join(f"/ {k}" for k in keras) + " |",
             "|---|---|---|" + "---|" * len(keras)]
    for w in inf.get("workloads", []):
        cells = []
        for key in ("vs_torch", "vs_onnxruntime"):
            v = w.get(key)
            cells.append(f"{v[0]:.2f}x [{v[1]:.2f}-{v[2]:.2f}]" if v else "n/a")
        rs = {r["impl"]: r for r in records if r["workload"] == w["workload"]}
        for k in keras:
            r = ratio(rs.get("seqlayers"), rs.get(k), "infer_cpu") if k in rs else None
            cells.append(fmt_ratio(r) if r is not None else (rs.get(k, {}).get("skipped") and "skipped" or "-"))
        lines.append(f"| {w['workload']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The whole report as Markdown (tables per workload, ratio summary, scaling, machine)."""
    recs = results["records"]
    m = results["machine"]
    parts = [f"Run {results.get('utc_start', '?')} to {m['utc']} UTC ({results.get('elapsed_s', 0):.0f} s) on "
             f"{m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
             f"{m['platform']}; load average at start {results.get('load_start')}, at end {m.get('loadavg')}. "
             f"{m['gpu']}.",
             "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions_of(recs).items())) + ".",
             "",
             f"Each cell: median [min-max] over {results['steps']} timed steps after {results['warmup']} "
             f"warm-up steps, in ms" + (f"; a phase stops after {results['budget_s']:.0f} s once 5 steps are "
                                        f"timed, shown as (n=K)" if results.get("budget_s") else "")
             + f". Threads per process: {results.get('threads') or 'library default'}. "
             f"Command: `{results['command']}`.",
             "", TIME_NOTE, "", MEMORY_NOTE, "", "#### Summary", "", ratio_summary(recs), ""]
    for name in results["workloads"]:
        parts += [workload_table(name, recs, results["steps"]), ""]
    if results.get("scaling"):
        from .scaling import scaling_tables
        parts += ["### Scaling (W1)", "", scaling_tables(results["scaling"]), ""]
    inf = results.get("inference")
    if inf:
        parts += ["### Inference against the limit, streaming, scaling in T/B/H, paired training step", ""]
        if inf.get("workloads"):
            parts += [inference_summary(recs, inf), ""]
        parts += [inference.markdown(inf)]
    return "\n".join(parts)


def write(results: dict, out_dir: str | Path) -> dict:
    """Write ``results.json`` and ``results.md`` under ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(json.dumps(results, indent=1))
    paths["markdown"].write_text(markdown(results))
    return {k: str(v) for k, v in paths.items()}


__all__ = ["add_ratios", "inference_summary", "machine_info", "markdown", "ratio_summary", "workload_table",
           "write"]
