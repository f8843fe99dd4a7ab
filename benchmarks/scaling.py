"""Step time of W1 (LSTM(128) regression) as the sequence length T and the batch size B grow.

Two sweeps, all points of one implementation in one subprocess (see ``runner.py``):
    T in ``times`` at the W1 batch (64), and B in ``batches`` at the W1 length (100).
Keras stops at ``KERAS_MAX_T`` (its torch backend loops over time steps in Python; see below).
Writes tables (Markdown) and a PNG plot (matplotlib, log-log) of train and inference ms per step,
wall clock (solid) and process CPU time (dashed).
"""
from __future__ import annotations

from pathlib import Path

from .runner import run_points
from .workloads import WORKLOADS

FULL_TIMES = (50, 200, 500, 1000, 2000)
FULL_BATCHES = (16, 256)  # B=64 (at T=100) is W1 itself: the main table's W1 records fill it in
QUICK_TIMES = (50, 200)
QUICK_BATCHES = (16,)
#: Keras JAX is left out by default: XLA's compile time of the training step grows with T
#: (minutes at T=200 on the shared 2-core machine, over 10 minutes at T=700); add it with --scaling-impl.
DEFAULT_IMPLS = ("torch", "seqlayers", "keras-torch", "keras-tf")
#: Keras's torch backend runs a Python loop over time steps (about 2.5 s per W1 training step at T=100
#: on the shared machine), so the long-sequence points would take minutes each: Keras stops at this T.
KERAS_MAX_T = 500


def scaling_points(times=FULL_TIMES, batches=FULL_BATCHES) -> list[tuple[str, int, int]]:
    """The sweep as ``(axis, T, B)``: T at the W1 batch, then B at the W1 length."""
    w = WORKLOADS["W1"]
    return [("T", t, w.batch) for t in times] + [("B", w.time, b) for b in batches]


def run_scaling(impls, times=FULL_TIMES, batches=FULL_BATCHES, steps=5, warmup=2, threads=None,
                log=print, timeout=600, budget_s=None) -> list[dict]:
    """Run every implementation at every point of both sweeps; return the records (with ``axis``)."""
    records = []
    for impl in impls:  # all points of one implementation in one process: imports paid once
        points = [p for p in scaling_points(times, batches)
                  if not (impl.name.startswith("keras") and p[1] > KERAS_MAX_T)]
        recs = run_points(impl, [("W1", t, b) for _, t, b in points], steps, warmup, threads=threads,
                          timeout=timeout, budget_s=budget_s)
        for (axis, t, b), rec in zip(points, recs):
            rec.update(axis=axis, time=t, batch=b)
            records.append(rec)
            log(f"  scaling {axis}: T={t} B={b} {impl.name}: " + short(rec))
    return records


def add_w1_points(scaling_records: list[dict], main_records: list[dict]) -> None:
    """Put each implementation's main-table W1 record (T=100, B=64) into both sweeps."""
    impls = {r["impl"] for r in scaling_records}
    for r in main_records:
        if r["workload"] == "W1" and r["impl"] in impls and "infer" in r:
            for axis in ("T", "B"):
                scaling_records.append({**r, "axis": axis, "from_main_table": True})


def short(rec: dict) -> str:
    if "infer" not in rec:
        return rec.get("skipped") or rec.get("error") or "?"
    train = f"{rec['train']['median_ms']:.1f} ms" if "train" in rec else rec.get("train_error")
    return f"train {train}, infer {rec['infer']['median_ms']:.1f} ms"


def _cell(rec, suffix=""):
    def one(phase):
        s = (rec or {}).get(phase + suffix)
        return "-" if not s or s.get("median_ms") is None else f"{s['median_ms']:.1f}"

    return one("train"), one("infer")


def scaling_tables(records: list[dict]) -> str:
    """Markdown: one table per sweep, a row per point, train / inference ms (median) per implementation."""
    impls = list(dict.fromkeys(r["impl"] for r in records))
    labels = {r["impl"]: r.get("label", r["impl"]) for r in records}
    out = []
    sweeps = [(axis, title, key, suffix, clock)
              for axis, title,
              key in (("T", "sequence length T (B=64)", "time"), ("B", "batch size B (T=100)", "batch"))
              for suffix, clock in (("", "wall"), ("_cpu", "CPU"))]
    for axis, title, key, suffix, clock in sweeps:
        rows = [r for r in records if r.get("axis") == axis]
        if not rows:
            continue
        points = sorted({r[key] for r in rows})
        out += [f"Train / inference {clock} ms per step (median) vs {title}:", "",
                f"| {key[0].upper()} | " + " | ".join(labels[i] for i in impls) + " |",
                "|---|" + "---|" * len(impls)]
        for p in points:
            cells = []
            for i in impls:
                rec = next((r for r in rows if r[key] == p and r["impl"] == i), None)
                tr, inf = _cell(rec, suffix)
                cells.append(f"{tr} / {inf}")
            out.append(f"| {p} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def plot(records: list[dict], path: str | Path) -> str | None:
    """Log-log plot of ms per step against T and against B, train and inference; returns the path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    impls = list(dict.fromkeys(r["impl"] for r in records))
    labels = {r["impl"]: r.get("label", r["impl"]) for r in records}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (axis, key, xlabel) in enumerate((("T", "time", "sequence length T (B=64)"),
                                               ("B", "batch", "batch size B (T=100)"))):
        for row, phase in enumerate(("train", "infer")):
            ax = axes[row][col]
            for k, i in enumerate(impls):
                color = f"C{k}"
                for suffix, style, what in (("", "-", "wall"), ("_cpu", "--", "CPU")):
                    pts = sorted((r[key], r[phase + suffix]["median_ms"]) for r in records
                                 if r.get("axis") == axis and r["impl"] == i and phase + suffix in r)
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color, marker="o",
                                markersize=3, label=f"{labels[i]} ({what})")
            ax.set_xscale("log")
            ax.set_yscale("log")
            xs = sorted({r[key] for r in records if r.get("axis") == axis})
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{'training step' if phase == 'train' else 'inference'} ms (median)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("W1: LSTM(128) -> TimeDistributed(Dense(1)), CPU")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


__all__ = ["DEFAULT_IMPLS", "FULL_BATCHES", "FULL_TIMES", "QUICK_BATCHES", "QUICK_TIMES", "plot", "run_scaling",
           "scaling_points", "scaling_tables"]
