"""``python -m benchmarks``: the main suite and the inference parts in one run, one report (a tiny run)."""
import json

import pytest

from benchmarks import __main__ as suite


def test_one_run_reports_inference_against_torch_onnxruntime_and_each_keras_backend(tmp_path):
    pytest.importorskip("onnxruntime")
    assert suite.main(["--impl", "torch,seqlayers,keras-torch", "--workload", "W3", "--steps", "1", "--warmup", "0",
                       "--no-scaling", "--inference", "workloads,train", "--inference-rounds", "1",
                       "--inference-steps", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["impl"] for r in results["records"]} == {"torch", "seqlayers", "keras-torch"}
    inf = results["inference"]
    assert inf["parts"] == ["workloads", "train"] and inf["command"] == results["command"]
    assert [w["workload"] for w in inf["workloads"]] == ["W3"] and [t["workload"] for t in inf["train"]] == ["W3"]
    assert json.loads((tmp_path / "inference.json").read_text())["workloads"][0]["workload"] == "W3"
    md = (tmp_path / "results.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| workload | / plain PyTorch"))
    assert head == "| workload | / plain PyTorch | / ONNX Runtime | / keras-torch |"
    row = next(line for line in md.splitlines() if line.startswith("| W3 | ") and line.count("|") == 5)
    assert row.split("|")[3].strip().endswith("]") and row.split("|")[4].strip().endswith("x"), row
    assert "| workload | training step, seqlayers / PyTorch (CPU) [range] |" in md


@pytest.mark.parametrize("flags, parts", [
    ([], ["workloads", "roofline", "streaming", "scaling", "train"]),
    (["--no-scaling"], ["workloads", "roofline", "streaming", "train"]),
    (["--scaling-only"], ["scaling"]),
    (["--inference", "none"], []),
    (["--inference", "streaming,roofline"], ["roofline", "streaming"]),
])
def test_inference_parts_follow_the_scaling_flags(flags, parts):
    assert suite.inference_parts(suite.parse_args(flags)) == parts


def test_unknown_inference_part_is_refused():
    with pytest.raises(SystemExit, match="unknown part.*roof.*choose from"):
        suite.inference_parts(suite.parse_args(["--inference", "roof"]))
