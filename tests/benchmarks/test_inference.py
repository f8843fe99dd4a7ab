"""benchmarks/inference.py: one small run of its parts writes the tables and JSON it promises."""
import json

import pytest

from benchmarks import inference
from benchmarks.workloads import WORKLOADS


def test_flops_count_every_recurrent_and_output_multiply_add():
    w = WORKLOADS["W1"]  # LSTM: 4 gates, x (8) and h (128) into each, then Dense(1)
    assert inference.flops(w) == 2 * 64 * 100 * (4 * 128 * (8 + 128) + 128)
    w2 = WORKLOADS["W2"]  # two directions, then Dense(17) on 2H
    assert inference.flops(w2) == 2 * 32 * 50 * (2 * 4 * 128 * (100 + 128) + 256 * 17)


def test_a_small_run_reports_ratios_against_torch_and_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    assert inference.main(["--only", "workloads,streaming", "--workload", "W3", "--rounds", "2", "--steps", "1",
                           "--calls", "3", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "inference.json").read_text())
    (w3,) = data["workloads"]
    assert set(w3["ms"]) >= {"seqlayers", "torch"} and w3["vs_torch"][1] <= w3["vs_torch"][0] <= w3["vs_torch"][2]
    assert "onnxruntime" in w3["ms"] and "vs_onnxruntime" in w3, w3  # an export that fails is only logged
    assert {"seqlayers", "torch", "onnxruntime"} <= set(data["streaming"]["us_per_call"])
    md = (tmp_path / "inference.md").read_text()
    assert "| W3 |" in md and "| streaming (LSTM(128), F=8, B=1) |" in md and "GFLOP/s" in md
