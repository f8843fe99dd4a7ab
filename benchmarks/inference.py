"""Inference against the limit: seqlayers, plain PyTorch and ONNX Runtime, paired in one process.

    python -m benchmarks.inference                     # everything below (~5 min on one core)
    python -m benchmarks.inference --only workloads,streaming --rounds 9
    python -m benchmarks                               # the main suite (Keras backends too), then all of this

Parts (``--only``, comma-separated; default all):

* ``workloads``: W1-W6 inference (the models of ``impl_seqlayers`` / ``impl_torch``, no gradients),
  seqlayers vs plain PyTorch vs ONNX Runtime (the seqlayers model through ``export_onnx``, one
  thread), interleaved round by round; the figure is the median over rounds of the per-round ratio.
* ``roofline``: this machine's single-core peak (a 1024^3 sgemm: best of 10 before the workloads, and
  best of 3 in every round next to them) and each workload's achieved GFLOP/s (its dense arithmetic:
  every recurrent layer's ``2 B T G H (F + H)`` per direction plus the output Dense; W5 at its real
  lengths, the padded steps need no work), and the time over its GEMM-bound floor (FLOPs / peak), paired
  as the other ratios: per round seqlayers' time over the floor at that round's peak, the median over
  rounds [min-max] (the machine's speed moves between minutes; a peak taken once, before, read the later
  workloads' distance to it through that drift).
* ``streaming``: LSTM(128), F=8, batch 1, one step per call, 200 calls per round: ``seqlayers.Stream``,
  plain PyTorch (``nn.LSTM`` + ``nn.Linear`` with ``(h, c)`` carried by hand), ONNX Runtime (that
  plain step exported with its states as inputs and outputs), paired; median microseconds per call.
  Keras 3 (``stateful=True``) on each backend there is, each in its own process
  (``benchmarks.stream_keras``: the faster of ``model(x_t)`` and ``predict_on_batch`` among those that
  carry the state; JAX and TensorFlow from the benchmark venv), so its ratios are not paired.
* ``scaling``: one LSTM layer's inference time against T (10..10,000; B=16, H=128), B (1..512;
  T=100) and H (32..1,024; B=16, T=100), F=8, for seqlayers, plain PyTorch and ONNX Runtime; a PNG
  (``--quick``: two points per axis, one repetition).
* ``train``: the training step paired against plain PyTorch (``benchmarks.paired``).

One torch thread (``torch.set_num_threads(1)``) and one ONNX Runtime thread throughout; CPU time of
this process is the clock for the paired parts (wall time for streaming, whose calls are too short
for the CPU clock's resolution).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import impl_seqlayers, impl_torch, paired
from .runner import REPO, bench_python
from .timing import JSON_PREFIX
from .workloads import WORKLOADS, Workload, make_batch

PARTS = ("workloads", "roofline", "streaming", "scaling", "train")
SCALING = {"T": [10, 100, 1000, 10000], "B": [1, 8, 64, 512], "H": [32, 128, 512, 1024]}
QUICK_SCALING = {"T": [10, 100], "B": [1, 16], "H": [32, 128]}
BASE = {"T": 100, "B": 16, "H": 128, "F": 8}


def _cpu_ms(fn, steps: int) -> float:
    """Median CPU ms of ``steps`` calls (paired's timer, its CPU half)."""
    return paired._time(fn, steps)[0]


def _ort_session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _ort_step(sl, model, x: torch.Tensor, folder: str, name: str):
    """ONNX Runtime running ``model`` exported by seqlayers' ``export_onnx``; None if it cannot."""
    try:
        path = sl.export_onnx(model, Path(folder) / f"{name}.onnx", example_inputs=x[:2])
        sess = _ort_session(path)
    except Exception as exc:  # an export that fails is reported, not fatal
        print(f"  ONNX Runtime: {name} not exported ({type(exc).__name__}: {str(exc)[:120]})", flush=True)
        return None
    feed = {sess.get_inputs()[0].name: x.numpy()}
    return lambda: sess.run(None, feed)


# ------------------------------------------------------------------ FLOPs
def flops(w: Workload) -> float:
    """Dense arithmetic of one inference call of workload ``w`` (multiply-adds x 2): the work any
    implementation has to do. W3's decoder reads one vector repeated ``out_steps`` times
    (RepeatVector), so its input projection counts once (plain PyTorch and ONNX Runtime compute it at
    every step; seqlayers' loop once). W5's recurrence counts its batch's real steps only (the padded
    ones need no work; plain PyTorch's dense reference does them), its output layer every position."""
    G = {"lstm": 4, "gru": 3, "rnn": 1}[w.cell]
    B, T, H = w.batch, w.time, w.units
    lengths = make_batch(w)["lengths"]
    real_steps = T if lengths is None else float(lengths.mean())  # per sequence

    def rnn(F, steps, dirs=1):
        return 2.0 * B * steps * G * H * (F + H) * dirs

    if w.kind == "regression":
        return rnn(w.features, T) + 2.0 * B * T * H
    if w.kind == "tagging":
        return rnn(w.embed_dim, real_steps, 2) + 2.0 * B * T * 2 * H * w.classes
    decoder = 2.0 * B * G * H * H + 2.0 * B * w.out_steps * G * H * H  # input projected once, then h @ W_hh per step
    return rnn(w.features, T) + decoder + 2.0 * B * w.out_steps * H * w.features  # seq2seq


def sgemm_peak(repeats: int = 10) -> float:
    """GFLOP/s of a 1024^3 sgemm on this thread, the best of ``repeats``."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    c = torch.empty(1024, 1024)
    torch.mm(a, b, out=c)
    best = min(_wall(lambda: torch.mm(a, b, out=c)) for _ in range(repeats))
    return 2 * 1024 ** 3 / best / 1e9


def _wall(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ W1-W6
def run_workloads(names, rounds, steps, folder, log=print) -> list[dict]:
    import seqlayers as sl

    out = []
    for name in names:
        w = WORKLOADS[name]
        torch.manual_seed(0)
        x = torch.from_numpy(make_batch(w)["x"])
        model = impl_seqlayers.build_model(sl, w).eval()
        with torch.inference_mode():
            model(x)

        def ours(model=model, x=x):
            with torch.inference_mode():
                return model(x)

        fns = {"seqlayers": ours, "torch": impl_torch.build(w, "dense", 1).infer_step}
        ort_fn = _ort_step(sl, model, x, folder, name)
        if ort_fn is not None:
            fns["onnxruntime"] = ort_fn
        for fn in fns.values():
            fn()
            fn()
        samples: dict[str, list[float]] = {k: [] for k in fns}
        peaks = []  # GFLOP/s, each round's (the floor of its seqlayers time)
        for r in range(rounds):
            for k in paired.rotated(list(fns), r):
                samples[k].append(_cpu_ms(fns[k], steps))
            peaks.append(sgemm_peak(3))
        rec = {"workload": name, "title": w.title, "ms": {k: statistics.median(v) for k, v in samples.items()},
               "flops": flops(w), "path": str(getattr(model.layers[0], "last_path", None)
                                               or getattr(model.layers[1], "last_path", None)),
               "peak_rounds": peaks}
        floors = [(ms / 1e3) / (rec["flops"] / (p * 1e9)) for ms, p in zip(samples["seqlayers"], peaks)]
        rec["vs_floor"] = [statistics.median(floors), min(floors), max(floors)]
        for k in fns:
            if k != "seqlayers":
                ratios = [a / b for a, b in zip(samples["seqlayers"], samples[k])]
                rec[f"vs_{k}"] = [statistics.median(ratios), min(ratios), max(ratios)]
        out.append(rec)
        vs_ort = f", /ORT {rec['vs_onnxruntime'][0]:.2f}x" if "vs_onnxruntime" in rec else ""
        log(f"{name}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in rec["ms"].items())
            + f"; seqlayers/torch {rec['vs_torch'][0]:.2f}x{vs_ort}")
    return out


# ------------------------------------------------------------------ streaming
class _PlainStep(nn.Module):
    def __init__(self, lstm, linear):
        super().__init__()
        self.lstm, self.linear = lstm, linear

    def forward(self, x, h, c):  # x (1, 1, F), h and c (1, 1, H)
        y, (h, c) = self.lstm(x, (h, c))
        return self.linear(y), h, c


def run_streaming(rounds, calls, folder, log=print) -> dict:
    import seqlayers as sl

    F, H = 8, 128
    torch.manual_seed(0)
    xs = torch.randn(calls, 1, F)
    model = sl.Sequential([sl.Input((None, F)), sl.LSTM(H, return_sequences=True), sl.Dense(1)])
    stream = sl.Stream(model)
    lstm, linear = nn.LSTM(F, H, batch_first=True).eval(), nn.Linear(H, 1).eval()

    def ours():
        stream.reset()
        for x in xs:
            stream.step(x)

    def plain():
        h = c = torch.zeros(1, 1, H)
        with torch.inference_mode():
            for x in xs:
                y, (h, c) = lstm(x[:, None], (h, c))
                linear(y)

    fns = {"seqlayers": ours, "torch": plain}
    step = _PlainStep(lstm, linear)
    zeros = torch.zeros(1, 1, H)
    try:
        path = Path(folder) / "stream.onnx"
        torch.onnx.export(step, (xs[0][:, None], zeros, zeros), str(path), input_names=["x", "h", "c"],
                          output_names=["y", "h_out", "c_out"], dynamo=False)
        sess = _ort_session(path)
        xn = [x[:, None].numpy() for x in xs]

        def ort_calls():
            h = c = zeros.numpy()
            for x in xn:
                _, h, c = sess.run(None, {"x": x, "h": h, "c": c})

        fns["onnxruntime"] = ort_calls
    except Exception as exc:
        log(f"  streaming: ONNX Runtime skipped ({type(exc).__name__}: {str(exc)[:120]})")
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        for k in paired.rotated(list(fns), r):
            samples[k].append(_wall(fns[k]) / calls * 1e6)
    rec = {"us_per_call": {k: statistics.median(v) for k, v in samples.items()},
           "ratios": {k: statistics.median(a / b for a, b in zip(samples["seqlayers"], v))
                      for k, v in samples.items() if k != "seqlayers"}, "calls": calls, "rounds": rounds,
           "keras": keras_streaming(calls, log)}
    for k, r in rec["keras"].items():
        if "us_per_call" in r:
            rec["ratios"][k] = rec["us_per_call"]["seqlayers"] / r["us_per_call"]
    log("streaming, us per call: " + ", ".join(f"{k} {v:.1f}" for k, v in rec["us_per_call"].items())
        + "".join(f", {k} {r['us_per_call']:.1f} ({r['method']})" for k, r in rec["keras"].items()
                  if "us_per_call" in r))
    return rec


def keras_streaming(calls: int, log=print, budget_s: float = 10.0) -> dict:
    """``benchmarks.stream_keras`` on each Keras backend there is, each in its own process (not paired).

    The torch backend runs in this interpreter; JAX and TensorFlow in the benchmark venv
    (``runner.bench_python``). Returns ``{"keras-<backend>": record or {"skipped"/"error": why}}``.
    """
    out = {}
    for backend, python in (("torch", sys.executable), ("jax", bench_python()), ("tensorflow", bench_python())):
        name = "keras-" + {"tensorflow": "tf"}.get(backend, backend)
        if python is None:
            out[name] = {"skipped": "no benchmark venv (.venv-bench); `make bench` creates it"}
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [python, "-m", "benchmarks.stream_keras", "--calls", str(calls), "--budget-s", str(budget_s)]
        try:
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith(JSON_PREFIX)), None)
            out[name] = json.loads(line[len(JSON_PREFIX):]) if line else \
                {"error": f"exit {done.returncode}: " + " | ".join(done.stderr.splitlines()[-2:])[:200]}
        except subprocess.TimeoutExpired:
            out[name] = {"error": "timed out after 300 s"}
        if "us_per_call" not in out[name]:
            log(f"  streaming: {name} {out[name]}")
    return out


# ------------------------------------------------------------------ scaling
def _lstm_point(sl, B, T, H, folder):
    F = BASE["F"]
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    layer = sl.LSTM(H, return_sequences=True)
    model = sl.Sequential([sl.Input((None, F)), layer]).eval()
    ref = nn.LSTM(F, H, batch_first=True).eval()

    def ours():
        with torch.inference_mode():
            model(x)

    def plain():
        with torch.inference_mode():
            ref(x)

    fns = {"seqlayers": ours, "torch": plain}
    ort_fn = _ort_step(sl, model, x, folder, f"lstm_h{H}")
    if ort_fn is not None:
        fns["onnxruntime"] = ort_fn
    return fns


def run_scaling(reps, folder, log=print, grid=None) -> list[dict]:
    import seqlayers as sl

    out = []
    for axis, values in (grid or SCALING).items():
        for v in values:
            size = {k: BASE[k] for k in ("B", "T", "H")} | {axis: v}
            fns = _lstm_point(sl, size["B"], size["T"], size["H"], folder)
            for fn in fns.values():
                fn()
            samples: dict[str, list[float]] = {k: [] for k in fns}
            for _ in range(reps):
                for k in fns:
                    samples[k].append(_cpu_ms(fns[k], 1))
            rec = {"axis": axis, "value": v, **size, "ms": {k: statistics.median(s) for k, s in samples.items()}}
            out.append(rec)
            log(f"scaling {axis}={v}: " + ", ".join(f"{k} {m:.2f} ms" for k, m in rec["ms"].items()))
    return out


def plot_scaling(records, path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, axis in zip(axes, SCALING):
        pts = [r for r in records if r["axis"] == axis]
        for impl in ("seqlayers", "torch", "onnxruntime"):
            xs = [r["value"] for r in pts if impl in r["ms"]]
            ax.plot(xs, [r["ms"][impl] for r in pts if impl in r["ms"]], marker="o",
                    label={"torch": "plain PyTorch", "onnxruntime": "ONNX Runtime"}.get(impl, impl))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_ylabel("ms per inference call (CPU)")
        fixed = ", ".join(f"{k}={BASE[k]}" for k in ("B", "T", "H") if k != axis)
        ax.set_title(f"LSTM inference vs {axis} ({fixed}, F=8)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return str(path)


# ------------------------------------------------------------------ report
def markdown(res: dict) -> str:
    lines = [f"Run {res['start']} to {res['end']} UTC, load average at start {res['load_start']}, at end "
             f"{res['load_end']}; one thread. Command: `{res['command']}`.", ""]
    peak = res.get("peak_gflops")
    if res.get("workloads"):
        lines += ["| workload | seqlayers ms | plain PyTorch ms | ONNX Runtime ms | seqlayers / PyTorch [range] "
                  "| seqlayers / ORT [range] | GFLOP/s | time / floor |", "|---|---|---|---|---|---|---|---|"]
        for r in res["workloads"]:
            ms = r["ms"]
            ort = f"{ms['onnxruntime']:.2f}" if "onnxruntime" in ms else "n/a"
            vo = r.get("vs_onnxruntime")
            gf = r["flops"] / (ms["seqlayers"] / 1e3) / 1e9
            vf = r.get("vs_floor")  # (a JSON of an earlier run: against the one peak taken before)
            floor = (f"{vf[0]:.2f}x [{vf[1]:.2f}-{vf[2]:.2f}]" if vf else
                     f"{(ms['seqlayers'] / 1e3) / (r['flops'] / (peak * 1e9)):.2f}x" if peak else "n/a")
            lines.append(f"| {r['workload']} | {ms['seqlayers']:.2f} | {ms['torch']:.2f} | {ort} | "
                         f"{r['vs_torch'][0]:.2f}x [{r['vs_torch'][1]:.2f}-{r['vs_torch'][2]:.2f}] | "
                         + (f"{vo[0]:.2f}x [{vo[1]:.2f}-{vo[2]:.2f}]" if vo else "n/a")
                         + f" | {gf:.1f} | {floor} |")
        lines.append("")
    if peak:
        rounds = [p for r in res.get("workloads", []) for p in r.get("peak_rounds", [])]
        within = (f"; in the workloads' rounds (best of 3 each, the floor of that round's time / floor): median "
                  f"{statistics.median(rounds):.1f} [{min(rounds):.1f}-{max(rounds):.1f}]" if rounds else "")
        lines += [f"Single-core peak (1024^3 sgemm), before the workloads (best of 10): {peak:.1f} GFLOP/s{within}. "
                  "GFLOP/s: the median time's; time / floor: per round, median [min-max].", ""]
    if res.get("streaming"):
        s = res["streaming"]
        lines += ["| streaming (LSTM(128), F=8, B=1) | us per call | seqlayers / this |", "|---|---|---|"]
        for k, v in s["us_per_call"].items():
            ratio = "" if k == "seqlayers" else f"{s['ratios'][k]:.2f}x"
            lines.append(f"| {k} | {v:.1f} | {ratio} |")
        for k, r in s.get("keras", {}).items():
            if "us_per_call" in r:
                ratio = s["ratios"][k]
                lines.append(f"| {k} (`{r['method']}`, own process, {r['n']} calls) | {r['us_per_call']:.1f} | "
                             + (f"{ratio:.2f}x |" if ratio >= 0.01 else f"{ratio:.1e}x |"))
            else:
                lines.append(f"| {k} | {r.get('skipped') or r.get('error')} | |")
        lines.append("")
    if res.get("scaling"):
        lines += ["| axis | value | seqlayers ms | plain PyTorch ms | ONNX Runtime ms |", "|---|---|---|---|---|"]
        for r in res["scaling"]:
            ms = r["ms"]
            ort = f"{ms['onnxruntime']:.2f}" if "onnxruntime" in ms else "n/a"
            lines.append(f"| {r['axis']} | {r['value']} | {ms['seqlayers']:.2f} | {ms['torch']:.2f} | {ort} |")
        lines.append("")
    if res.get("train"):
        lines += ["| workload | training step, seqlayers / PyTorch (CPU) [range] |", "|---|---|"]
        for t in res["train"]:
            e = t["contenders"]["seqlayers"]["train"]
            spread = f"[{e['cpu_ratio_min']:.2f}-{e['cpu_ratio_max']:.2f}]"
            lines.append(f"| {t['workload']} | {e['cpu_ratio']:.2f}x {spread} |")
        lines.append("")
    return "\n".join(lines)


def run(parts, names, rounds: int, steps: int, calls: int, quick: bool = False, log=print) -> dict:
    """Run the ``parts`` (see ``PARTS``) on workloads ``names``; the results as one dict (``markdown`` renders it)."""
    torch.set_num_threads(1)
    res: dict = {"start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load_start": paired._load(),
                 "parts": list(parts), "rounds": rounds, "steps": steps}
    with tempfile.TemporaryDirectory() as folder:
        # the training step first, in the state a training script runs in: plain PyTorch's W1 step takes
        # ~7,400 minor page faults (52.5 ms CPU) in a fresh process, none (30.4 ms) after the scaling
        # study's allocations had moved glibc's mmap and trim thresholds (seqlayers' 22 ms either way)
        if "train" in parts:
            res["train"] = [paired.run_workload(n, ["torch", "seqlayers"], rounds, steps, 1 if quick else 2, 1,
                                                log=log) for n in names]
        if "roofline" in parts or "workloads" in parts:
            res["peak_gflops"] = sgemm_peak()
            res["workloads"] = run_workloads(names, rounds, steps, folder, log)
        if "streaming" in parts:
            res["streaming"] = run_streaming(rounds, calls, folder, log)
        if "scaling" in parts:
            res["scaling"] = run_scaling(1 if quick else 3, folder, log, QUICK_SCALING if quick else SCALING)
    paired.finish_meta(res)
    return res


def write(res: dict, out) -> list[str]:
    """``OUT/inference.json``, ``OUT/inference.md`` and the scaling PNG (when there is a scaling part)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if res.get("scaling"):
        res["plot"] = plot_scaling(res["scaling"], out / "scaling_inference.png")
    (out / "inference.json").write_text(json.dumps(res, indent=1, default=float))
    (out / "inference.md").write_text(markdown(res))
    return [str(out / "inference.json"), str(out / "inference.md")] + ([res["plot"]] if res.get("plot") else [])


def parse_parts(spec: str) -> list[str]:
    """``"workloads,streaming"`` -> the parts, in ``PARTS`` order; ``"none"`` -> none. Unknown names: SystemExit."""
    parts = [s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none"]
    bad = [s for s in parts if s not in PARTS]
    if bad:
        raise SystemExit(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)} (or none).")
    return [s for s in PARTS if s in parts]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(PARTS), help=f"parts, comma-separated: {', '.join(PARTS)}")
    p.add_argument("--workload", default=",".join(WORKLOADS))
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--steps", type=int, default=3, help="calls per contender and round (workloads)")
    p.add_argument("--calls", type=int, default=200, help="streaming calls per round")
    p.add_argument("--quick", action="store_true", help="a small scaling grid, one repetition")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    names = [n.strip().upper() for n in args.workload.split(",") if n.strip()]
    res = run(parse_parts(args.only), names, args.rounds, args.steps, args.calls, args.quick)
    res["command"] = "python -m benchmarks.inference " + " ".join(sys.argv[1:] if argv is None else argv)
    paths = write(res, args.out)
    print("\n" + markdown(res))
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
