"""benchmarks/inference.py: one small run of its parts writes the tables and JSON it promises."""
import json

import pytest

from benchmarks import inference, stream_keras
from benchmarks.workloads import WORKLOADS, make_batch


def test_flops_count_every_recurrent_and_output_multiply_add():
    w = WORKLOADS["W1"]  # LSTM: 4 gates, x (8) and h (128) into each, then Dense(1)
    assert inference.flops(w) == 2 * 64 * 100 * (4 * 128 * (8 + 128) + 128)
    w2 = WORKLOADS["W2"]  # two directions, then Dense(17) on 2H
    assert inference.flops(w2) == 2 * 32 * 50 * (2 * 4 * 128 * (100 + 128) + 256 * 17)
    w5 = WORKLOADS["W5"]  # the recurrence over the batch's real steps only
    steps = float(make_batch(w5)["lengths"].sum())
    assert inference.flops(w5) == pytest.approx(2 * steps * 2 * 4 * 128 * (100 + 128) + 2 * 32 * 50 * 256 * 17)
    w3 = WORKLOADS["W3"]  # the decoder's repeated input projected once, then 4 steps of h @ W_hh
    decoder = 4 * 128 * 128 + 4 * 4 * 128 * 128
    assert inference.flops(w3) == 2 * 128 * (7 * 4 * 128 * (12 + 128) + decoder + 4 * 128 * 12)


def test_a_small_run_reports_ratios_against_torch_onnxruntime_and_keras(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(inference, "bench_python", lambda: None)  # Keras JAX/TF: skipped, not run (slow)
    assert inference.main(["--only", "workloads,streaming", "--workload", "W3", "--rounds", "2", "--steps", "1",
                           "--calls", "3", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "inference.json").read_text())
    (w3,) = data["workloads"]
    assert set(w3["ms"]) >= {"seqlayers", "torch"} and w3["vs_torch"][1] <= w3["vs_torch"][0] <= w3["vs_torch"][2]
    assert "onnxruntime" in w3["ms"] and "vs_onnxruntime" in w3, w3  # an export that fails is only logged
    # time / floor paired per round: one peak a round, the ratios' median within their range
    assert len(w3["peak_rounds"]) == 2 and 0 < w3["vs_floor"][1] <= w3["vs_floor"][0] <= w3["vs_floor"][2]
    streaming = data["streaming"]
    assert {"seqlayers", "torch", "onnxruntime"} <= set(streaming["us_per_call"])
    keras_torch = streaming["keras"]["keras-torch"]  # its own process, this interpreter
    assert keras_torch["us_per_call"] > 0 and keras_torch["backend"] == "torch", keras_torch
    assert "skipped" in streaming["keras"]["keras-jax"] and "keras-torch" in streaming["ratios"]
    md = (tmp_path / "inference.md").read_text()
    assert "| W3 |" in md and "| streaming (LSTM(128), F=8, B=1) |" in md and "GFLOP/s" in md
    assert "in the workloads' rounds (best of 3 each" in md
    assert "| keras-torch (`" in md and "| keras-jax | no benchmark venv" in md


def test_unknown_parts_are_refused_with_the_choices():
    assert inference.parse_parts("train,workloads") == ["workloads", "train"]  # PARTS order
    assert inference.parse_parts("none") == []
    with pytest.raises(SystemExit, match="unknown part.*stream.*choose from workloads"):
        inference.parse_parts("workloads,stream")


def test_keras_streaming_times_only_ways_that_carry_the_state():
    import keras

    rec = stream_keras.run(keras, calls=12, budget_s=0.0)  # conftest: the torch backend
    assert rec["backend"] == "torch" and rec["method"] in rec["medians"] and rec["n"] == stream_keras.MIN_CALLS
    model = stream_keras.build(keras)
    never = lambda x: model(x * 0.0, training=False)  # noqa: E731  (forgets the input: not the sequence's outputs)
    xs = stream_keras.np.random.default_rng(1).standard_normal((5, 1, 1, stream_keras.F)).astype("float32")
    assert not stream_keras.carries_state(keras, model, never, xs)
    assert stream_keras.carries_state(keras, model, stream_keras.steppers(model)["model(x)"], xs)
