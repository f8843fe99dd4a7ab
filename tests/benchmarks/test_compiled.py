"""benchmarks/compiled.py: compiled and exported vs eager, paired in one process (a tiny run)."""
import json


def test_compiled_run_reports_paired_ratios_first_calls_and_gaps(tmp_path):
    from benchmarks import compiled

    assert compiled.main(["--workload", "W1", "--time", "3", "--batch", "2", "--rounds", "2", "--steps", "1",
                          "--warmup", "0", "--backend", "eager", "--out", str(tmp_path)]) == 0
    (res,) = json.loads((tmp_path / "compiled.json").read_text())["results"]
    eager, comp, exp = (res["contenders"][c] for c in ("eager", "compiled", "exported"))
    assert eager["train"]["cpu_ratio"] == eager["infer"]["cpu_ratio"] == 1.0  # the reference, per round
    assert set(comp) == {"train", "infer"} and set(exp) == {"infer"}  # an exported program only infers
    assert comp["train"]["cpu_ms"] > 0 and exp["infer"]["cpu_ratio_min"] <= exp["infer"]["cpu_ratio_max"]
    assert max(res["max_abs_gap"].values()) < 1e-5  # both agree with eager before anything is timed
    assert set(res["first_call_s"]) == {"eager_train", "eager_infer", "compiled_train", "compiled_infer",
                                        "exported_infer"}
    md = (tmp_path / "compiled.md").read_text()
    assert "| W1 echo/regression, LSTM(128): B=2, T=3 | compiled |" in md
