"""`seqlayers train gan` on tiny runs (sines and a generated CSV), resuming, and `seqlayers predict`."""
import json
import re

import numpy as np
import pytest
import torch

from seqlayers.cli import main
from seqlayers.data.sines import sines
from seqlayers.generative import SequenceGAN, sequence_discriminator, unconditional_generator
from seqlayers.io import load_model
from seqlayers.tasks import gan as gan_task
from seqlayers.tasks.gan import ValidationDiscriminative, minmax

pytest.importorskip("matplotlib")


def _csv(path, rows=300):
    t = np.arange(rows)
    ot = np.sin(t / 6) + 0.1 * np.random.default_rng(0).normal(size=rows)
    path.write_text("date,HUFL,OT\n" + "".join(f"2020-01-01 {i},{np.cos(i / 5):.5f},{ot[i]:.5f}\n"
                                                 for i in range(rows)))
    return path


TINY = ["--epochs", "2", "--units", "6", "--noise-dim", "2", "--batch-size", "32", "--score-iterations", "20,20",
        "--threads", "1", "--quiet"]


def test_train_gan_on_sines_writes_timegan_scores_and_a_pca_picture(tmp_path):
    out = tmp_path / "s"
    assert main(["train", "gan", "--data", "sines", "--n-series", "96", "--length", "8", "--features", "2",
                 "--moment-weight", "100", "--correlation-weight", "10", "--score-repeats", "2", "--out", str(out)]
                + TINY) == 0
    rep = json.loads((out / "report.json").read_text())
    assert "each the mean of 2 trained from seeds 0, 1" in (out / "report.md").read_text()
    assert len(rep["history"]["moments"]) == 2 and rep["config"]["moment_weight"] == 100  # the flags reached compile
    assert len(rep["history"]["correlation"]) == 2 and rep["config"]["correlation_weight"] == 10
    assert set(rep["scores"]) == {"discriminative", "predictive", "discriminative_real_vs_real",
                                  "predictive_real_on_real"}
    assert all(0 <= v <= 1 for v in rep["scores"].values())
    assert (out / "pca.png").stat().st_size > 0 and "discriminative score" in (out / "report.md").read_text()
    assert main(["predict", str(out), str(out / "report.md")]) == 2  # no condition to continue: a clear error


def test_minmax_scales_each_feature_to_the_unit_interval_and_back(tmp_path, monkeypatch):
    real = sines(50, 8, 3, seed=0)
    lo, span = minmax(real)
    z = (real - lo) / span
    assert np.allclose(z.min(axis=(0, 1)), 0) and np.allclose(z.max(axis=(0, 1)), 1, atol=1e-5)
    assert np.allclose(z * span + lo, real, atol=1e-6)
    for k in range(3):  # per feature, not over the whole array
        assert lo[k] == real[:, :, k].min() and span[k] == pytest.approx(real[:, :, k].max() - lo[k], abs=1e-6)
    seen = {}  # what the generator trains on, and the synthetic series the post-hoc scores get
    fit, score = gan_task.fit_gan, gan_task.discriminative_score

    def recording_fit(gan, x, *args, **kwargs):
        seen.setdefault("train", x)
        return fit(gan, x, *args, **kwargs)

    def recording_score(real, fake, **kwargs):
        seen.setdefault("scored", fake)
        return score(real, fake, **kwargs)
    monkeypatch.setattr(gan_task, "fit_gan", recording_fit)
    monkeypatch.setattr(gan_task, "discriminative_score", recording_score)
    out = tmp_path / "m"
    assert main(["train", "gan", "--data", "sines", "--n-series", "96", "--length", "8", "--features", "2",
                 "--scale", "minmax", "--score-repeats", "1", "--out", str(out)] + TINY) == 0
    config = json.loads((out / "task.json").read_text())["config"]
    lo2, span2 = minmax(sines(96, 8, 2, seed=0))
    assert config["scale"] == "minmax"
    assert np.allclose(config["scale_lo"], lo2) and np.allclose(config["scale_span"], span2)
    assert np.allclose(seen["train"].min(axis=(0, 1)), 0) and np.allclose(seen["train"].max(axis=(0, 1)), 1, atol=1e-5)
    scored = seen["scored"]  # a sigmoid's output scaled back: within the data's own range (here about [0.5, 0.85])
    assert (scored >= lo2 - 1e-6).all() and (scored <= lo2 + span2 + 1e-6).all()


def test_load_sampler_returns_the_series_the_run_scored_in_the_data_scale_and_reads_older_folders(
        tmp_path, monkeypatch):
    scored = []  # the synthetic series the run scored (the first discriminative score's fake set)
    score = gan_task.discriminative_score
    monkeypatch.setattr(gan_task, "discriminative_score",
                        lambda real, fake, **kwargs: scored.append(fake) or score(real, fake, **kwargs))
    out = tmp_path / "m"
    assert main(["train", "gan", "--data", "sines", "--n-series", "96", "--length", "8", "--features", "2",
                 "--scale", "minmax", "--static-noise", "--score-repeats", "1", "--out", str(out)] + TINY) == 0
    loaded = gan_task.load_sampler(out)(96, seed=0)  # from the folder alone: task.json + weights.safetensors
    assert loaded.shape == (96, 8, 2) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, scored[0])
    # an independent route to the same numbers: the whole model file on the run's noise, scaled by hand
    config = json.loads((out / "task.json").read_text())["config"]
    lo, span = np.float32(config["scale_lo"]), np.float32(config["scale_span"])
    torch.manual_seed(0)
    z = torch.randn(96, 1, 2).expand(96, 8, 2)  # --static-noise: one draw per series, repeated
    raw = load_model(out / "model.seqlayers")(z).detach().numpy()  # the bare generator: the [0, 1] training scale
    np.testing.assert_allclose(raw * span + lo, loaded, rtol=0, atol=1e-6)
    assert np.abs(raw - loaded).max() > 0.05  # the scale matters here (sines' minimum is about 0.5)
    # a folder saved before scale_lo / scale_span were: the generator's own scale, as it loaded then
    task = json.loads((out / "task.json").read_text())
    del task["config"]["scale_lo"], task["config"]["scale_span"]
    (out / "task.json").write_text(json.dumps(task))
    np.testing.assert_allclose(gan_task.load_sampler(out)(96, seed=0), raw, rtol=0, atol=1e-6)


def test_load_sampler_sends_a_csv_run_to_seqlayers_predict(tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    (out / "task.json").write_text(json.dumps({"task": "gan", "config": {"data": "csv"}}))
    with pytest.raises(ValueError, match=r"load_sampler reads a `seqlayers train gan --data sines` run, but this "
                                         r"folder holds task 'gan' on 'csv'\. .*`seqlayers predict .* FILE\.csv`"):
        gan_task.load_sampler(out)


def test_select_every_scores_on_validation_sines_keeps_the_best_epoch_and_leaves_the_random_streams(tmp_path):
    out = tmp_path / "v"
    assert main(["train", "gan", "--data", "sines", "--n-series", "96", "--length", "8", "--features", "2",
                 "--select-every", "1", "--select-iterations", "5", "--out", str(out)] + TINY) == 0
    rep = json.loads((out / "report.json").read_text())
    val = rep["history"]["val_discriminative"]
    assert len(val) == 2 and all(0 <= v <= 0.5 for v in val)
    assert f"| kept epoch (--select-every) and its validation discriminative score | {int(np.argmin(val)) + 1} / " \
        in (out / "report.md").read_text()
    # scoring inside fit puts the global random generators back as it found them
    gan = SequenceGAN(unconditional_generator(8, 2, 2, units=3), sequence_discriminator(8, 2, units=3), noise_dim=2)
    cb = ValidationDiscriminative(sines(40, 8, 2, seed=5), every=1, iterations=3, units=1, seed=9)
    cb.set_model(gan)
    torch.manual_seed(0)
    np.random.seed(0)
    logs: dict = {}
    cb.on_epoch_end(0, logs)
    after = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(0)
    np.random.seed(0)
    assert torch.equal(after[0], torch.rand(3)) and np.array_equal(after[1], np.random.rand(3))
    assert logs["val_discriminative"] == cb.last and 0 <= cb.last <= 0.5
    cb.every, cb.last = 2, 0.25
    cb.on_epoch_end(2, logs)  # not a scoring epoch: the last score is carried
    assert logs["val_discriminative"] == 0.25


def test_train_gan_on_a_csv_scores_against_both_baselines_resumes_and_predicts(tmp_path, capsys):
    csv, out = _csv(tmp_path / "s.csv"), tmp_path / "c"
    args = ["train", "gan", "--data", "csv", "--csv", str(csv), "--borders", "200,250,300", "--halves", "8,6",
            "--samples", "5", "--forecaster-epochs", "1", "--out", str(out)] + TINY
    assert main(args) == 0
    rep = json.loads((out / "report.json").read_text())
    s = rep["scores"]
    assert set(s["crps"]) == set(s["discriminative"]) == {"gan", "forecaster", "forecaster_plus_noise"}
    assert s["windows"] == 50 - 14 + 1 + 8 and s["samples"] == 5  # the test split starts T1 rows early
    assert s["spread"]["gan"] > 0 and (out / "fan_chart.png").is_file() and (out / "pca.png").is_file()
    weights = (out / "gan.safetensors").read_bytes()
    assert main(args[:-1] + ["--epochs", "2"]) == 0  # a rerun loads the finished GAN instead of training it
    assert (out / "gan.safetensors").read_bytes() == weights
    capsys.readouterr()
    assert main(["predict", str(out), str(csv), "--samples", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "step,sample_1,sample_2,sample_3" and len(lines) == 1 + 6
    assert main(["predict", str(out), str(csv), "--samples", "3"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == lines  # seeded sampling


def test_train_gan_errors_teach(tmp_path, capsys):
    assert main(["train", "gan", "--data", "csv", "--out", str(tmp_path / "e")] + TINY) == 2
    assert "--data csv needs --csv PATH" in capsys.readouterr().err
    csv = _csv(tmp_path / "s.csv")
    assert main(["train", "gan", "--data", "csv", "--csv", str(csv), "--borders", "200,250,300", "--halves", "8",
                 "--out", str(tmp_path / "f")] + TINY) == 2
    assert "--halves: expected 2 positive integers" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [("--score-layers", "-1"), ("--score-repeats", "-2"), ("--score-units", "-3"),
                                         ("--score-layers", "two"), ("--score-iterations", "-5,20"),
                                         ("--score-iterations", "2000")])
def test_score_flags_out_of_range_are_rejected_when_parsed_naming_the_flag_the_range_and_a_fix(
        tmp_path, capsys, monkeypatch, flag, value):
    monkeypatch.setattr(gan_task, "run", lambda args: pytest.fail("the command ran"))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "gan", "--data", "sines", "--n-series", "96", "--length", "8", "--features", "2",
              "--out", str(tmp_path / "e")] + TINY + [f"{flag}={value}"])  # (= : argparse reads -5,20 as a flag)
    assert exit_.value.code == 2
    expected = (r"expected an integer >= 0 \(.*0: .*\), got '{v}'\. Give a positive number, or 0 for the default"
                if flag != "--score-iterations" else
                r"expected 2 positive integers separated by a comma .*, got '{v}'\. Give e\.g\. 2000,5000")
    assert re.search(rf"error: argument {flag}: " + expected.format(v=re.escape(value)), capsys.readouterr().err)
    assert not (tmp_path / "e").exists()  # rejected before the output folder or any training
