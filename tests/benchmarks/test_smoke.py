"""Smoke test of the benchmark suite: every implementation runs 2 steps; no timing is asserted.

W3 (B=128, T=7) is the smallest workload. The Keras JAX/TensorFlow backends live in a separate venv
and are not exercised here; Keras runs on the torch backend in-process (conftest sets it).
"""
import json

import numpy as np
import pytest
import torch

from benchmarks import impl_keras, impl_seqlayers, impl_torch, report
from benchmarks.runner import BY_NAME, run_one
from benchmarks.timing import Skip, measure, summarize
from benchmarks.workloads import WORKLOADS, get_workload, make_batch


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_make_batch_shapes_match_the_workload(name):
    w = WORKLOADS[name]
    d = make_batch(w)
    assert d["x"].shape[:2] == (w.batch, w.time)
    if w.kind == "seq2seq":
        assert d["y"].shape == (w.batch, w.out_steps)
        assert np.all(d["x"].sum(-1) == 1)  # one-hot
    elif w.kind == "tagging":
        assert d["y"].shape == (w.batch, w.time) and d["y"].max() < w.classes
    else:
        assert d["y"].shape == (w.batch, w.time, 1)


def test_masked_workload_is_right_padded_with_lengths_in_range():
    w = WORKLOADS["W5"]
    d = make_batch(w)
    lengths = d["lengths"]
    assert lengths.min() >= w.min_length and lengths.max() == w.time
    for row, n in zip(d["x"], lengths):
        assert np.all(row[:n] != 0) and np.all(row[n:] == 0)


@pytest.mark.parametrize("build, variant", [
    (impl_torch.build, "dense"), (impl_torch.build, "packed"), (impl_seqlayers.build, "layers"),
    (impl_keras.build, "torch"),
], ids=["torch", "torch-packed", "seqlayers", "keras-torch"])
def test_each_implementation_runs_two_training_and_inference_steps(build, variant):
    w = get_workload("W5" if variant == "packed" else "W3")
    case = build(w, variant, 1)
    for _ in range(2):
        loss = case.train_step()
    loss = loss.detach() if isinstance(loss, torch.Tensor) else loss
    assert np.isfinite(float(np.asarray(loss)))
    out = case.infer_step()
    out = out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    classes = w.classes if w.kind == "tagging" else w.features
    assert out.shape == ((w.batch, w.time, classes) if w.kind == "tagging" else (w.batch, w.out_steps, classes))
    assert summarize(measure(case.infer_step, 0, 2))["n"] == 2


def test_seqlayers_and_keras_models_have_the_same_parameter_count():
    import keras

    import seqlayers

    for w in WORKLOADS.values():
        k = impl_keras.build_model(keras, w)
        s = impl_seqlayers.build_model(seqlayers, w)
        assert s.count_params() == k.count_params(), w.name


def test_packed_variant_only_applies_to_the_masked_workload():
    with pytest.raises(Skip, match="W5"):
        impl_torch.build(get_workload("W1"), "packed", 1)


def test_subprocess_record_and_report(tmp_path):
    rec = run_one(BY_NAME["torch"], "W3", steps=2, warmup=0, threads=1, timeout=120)
    assert rec["train"]["n"] == 2 and rec["infer"]["n"] == 2, rec
    assert rec["peak_rss_mb"] > 0 and rec["versions"]["torch"] == torch.__version__
    records = [rec, {**rec, "impl": "seqlayers", "label": "seqlayers"}]
    report.add_ratios(records)
    assert records[1]["train_ratio"] == pytest.approx(1.0)
    results = {"records": records, "machine": report.machine_info(), "steps": 2, "warmup": 0,
               "command": "python -m benchmarks", "workloads": ["W3"], "scaling": []}
    paths = report.write(results, tmp_path)
    assert json.loads(open(paths["json"]).read())["records"][0]["workload"] == "W3"
    md = open(paths["markdown"]).read()
    assert "| plain PyTorch |" in md and "1.00x" in md


def test_paired_run_interleaves_and_reports_per_round_ratios(tmp_path):
    from benchmarks import paired

    assert paired.main(["--workload", "W3", "--rounds", "2", "--steps", "1", "--warmup", "0",
                        "--impl", "seqlayers", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "paired.json").read_text())
    (res,) = data["results"]
    assert set(res["contenders"]) == {"torch", "seqlayers"} and res["target"] == 1.10
    ref = res["contenders"]["torch"]["train"]
    assert ref["cpu_ratio"] == 1.0 and len(ref["rounds"]) == 2
    own = res["contenders"]["seqlayers"]["infer"]
    ratios = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(own["rounds"], res["contenders"]["torch"]["infer"]["rounds"])]
    assert own["cpu_ratio"] == pytest.approx(sorted(ratios)[0] + (sorted(ratios)[1] - sorted(ratios)[0]) / 2)
    assert "| W3 | seqlayers (layers + Adam + loss) |" in (tmp_path / "paired.md").read_text()


def test_paired_rejects_unknown_names():
    from benchmarks import paired

    with pytest.raises(SystemExit):
        paired.main(["--workload", "W9"])
    with pytest.raises(SystemExit):
        paired.main(["--impl", "keras-jax"])
