"""`seqlayers train forecast` on a small generated CSV: protocol, both models, reports, errors."""
import json

import numpy as np
import pytest

from seqlayers.tasks import forecast

BORDERS = "160,200,240"


def make_csv(path, rows=240, bad=None):
    t = np.arange(rows)
    rng = np.random.default_rng(0)
    cols = {"a": np.sin(t / 5) + 0.1 * rng.normal(size=rows), "b": np.cos(t / 7), "OT": np.sin(t / 5 + 1) + t / 100}
    lines = ["date," + ",".join(cols)]
    for i in range(rows):
        values = [f"{cols[c][i]:.5f}" for c in cols]
        if bad == i:
            values[2] = "n/a"
        lines.append(f"2020-01-01 {i},{','.join(values)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_splits_follows_the_protocol(tmp_path):
    csv = make_csv(tmp_path / "s.csv")
    d = forecast.load_splits(csv, "OT", "M", lookback=12, horizon=4, borders=(160, 200, 240))
    assert d["splits"] == [(0, 160), (148, 200), (188, 240)]
    raw = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    # scaler statistics come from the 160 training rows only
    np.testing.assert_allclose(d["scaler"].mean_, raw[:160].mean(0), rtol=1e-5)
    np.testing.assert_allclose(d["scaler"].scale_, raw[:160].std(0), rtol=1e-4)
    x, y = d["test"]
    assert x.shape == (52 - 16 + 1, 12, 3) and y.shape == (37, 4, 3)
    z = (raw - raw[:160].mean(0)) / raw[:160].std(0)
    np.testing.assert_allclose(y[0], z[200:204], atol=1e-5)  # first test window predicts the first test row
    _, ys = forecast.load_splits(csv, "OT", "S", 12, 4, (160, 200, 240))["test"]
    np.testing.assert_allclose(ys[-1], z[236:240, 2], atol=1e-5)


def test_relative_windows_keep_the_error_unchanged():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 6, 3)), rng.normal(size=(5, 4))
    xr, yr, off = forecast.relative(x, y, 2)
    np.testing.assert_allclose(xr[:, -1], 0)
    np.testing.assert_allclose(yr + off, y)
    p = rng.normal(size=(5, 4))
    assert np.isclose(np.mean((p + off - y) ** 2), np.mean((p - yr) ** 2))


def test_seq2seq_step_by_step_decoding_matches_feeding_its_own_predictions():
    import torch

    torch.manual_seed(0)
    s2s = forecast.Seq2SeqForecaster(lookback=6, n_features=3, n_out=1, units=8)
    x = np.random.default_rng(1).normal(size=(4, 6, 3)).astype(np.float32)
    p = s2s.predict(x, horizon=5, target_index=2)  # (4, 5)
    assert p.shape == (4, 5)
    dec_in = s2s.decoder_inputs(x, p, 2)  # [last input value] + own predictions[:-1]
    np.testing.assert_allclose(dec_in[:, 0, 0], x[:, -1, 2])
    with torch.no_grad():
        full = s2s.model([torch.as_tensor(x), torch.as_tensor(dec_in)]).numpy()[:, :, 0]
    np.testing.assert_allclose(full, p, atol=1e-5)


def run_cli(args):
    from seqlayers.cli import main

    return main(["train", "forecast", *args])


SEGRNN = ["--seg-len", "4", "--units", "8"]  # segrnn's options (its default units are SegRNN's 512)


@pytest.mark.parametrize("features,model", [("S", "many-to-one"), ("M", "seq2seq"), ("M", "segrnn")])
def test_train_forecast_writes_report_and_plot(tmp_path, features, model):
    csv = make_csv(tmp_path / "s.csv")
    out = tmp_path / "out"
    rc = run_cli(["--csv", str(csv), "--target", "OT", "--features", features, "--lookback", "12", "--horizon", "4",
                  "--model", model, "--units", "8", "--epochs", "2", "--borders", BORDERS, "--out", str(out), "--quiet",
                  *(SEGRNN if model == "segrnn" else [])])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["relative"] is (model != "segrnn")  # segrnn normalises each window itself
    assert report["train_cpu_seconds"] > 0 and report["peak_rss_mb"] > 0
    assert report["windows"] == {"train": 145, "val": 37, "test": 37}
    if model == "seq2seq":  # early stopping watched the free-running val MSE; its best epoch is the val figure
        assert min(report["history"]["val_decoded_mse"]) == pytest.approx(report["val"]["mse"], rel=1e-4)
    assert np.isfinite(report["test"]["mse"]) and report["test"]["mae"] > 0
    # the repeat-last-value baseline, computed here by a plain loop over the test rows
    raw = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    z = (raw - raw[:160].mean(0)) / raw[:160].std(0)
    z = z[:, 2:] if features == "S" else z
    errs = [z[s + 12:s + 16] - z[s + 11] for s in range(188, 240 - 16 + 1)]
    assert report["persistence_test"]["mse"] == pytest.approx(np.mean(np.square(errs)), rel=1e-4)
    assert (out / "predictions.png").stat().st_size > 1000
    assert "test MSE" in (out / "report.md").read_text()
    # rerunning resumes: the finished model is loaded, not trained again, and gives the same figures
    rc = run_cli(["--csv", str(csv), "--features", features, "--lookback", "12", "--horizon", "4",
                  "--model", model, "--units", "8", "--epochs", "2", "--borders", BORDERS, "--out", str(out), "--quiet",
                  *(SEGRNN if model == "segrnn" else [])])
    assert json.loads((out / "report.json").read_text())["test"] == pytest.approx(report["test"], rel=1e-5)


def test_bad_csv_errors_teach(tmp_path, capsys):
    csv = make_csv(tmp_path / "s.csv")
    with pytest.raises(ValueError, match=r"no column 'temp' to forecast\. Columns in the file: date, a, b, OT"):
        forecast.load_splits(csv, "temp", "S", 12, 4, (160, 200, 240))
    bad = make_csv(tmp_path / "bad.csv", bad=7)
    with pytest.raises(ValueError, match=r"bad\.csv, line 9, column 'OT': 'n/a' is not a number"):
        forecast.load_splits(bad, "OT", "S", 12, 4, (160, 200, 240))
    with pytest.raises(ValueError, match=r"the val split \(rows 148-199, 52 rows\) is too short for one window of "
                                         r"lookback 12 \+ horizon 48 = 60 rows"):
        forecast.load_splits(csv, "OT", "S", 12, 48, (160, 200, 240))
    with pytest.raises(ValueError, match="splits end at row 300"):
        forecast.load_splits(csv, "OT", "S", 12, 4, (160, 200, 300))
    # through the CLI: exit code 2 and the message on stderr
    assert run_cli(["--csv", str(csv), "--target", "temp", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "Columns in the file: date, a, b, OT" in capsys.readouterr().err


def _by_hand(model_file, csv, features, model, lookback=12, horizon=4):
    """The next `horizon` values after the file's last `lookback` rows, from the saved model, by hand."""
    import torch

    import seqlayers as sl

    raw = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    raw = raw[:, 2:] if features == "S" else raw
    mean, std = raw[:160].mean(0), raw[:160].std(0)
    x = ((raw[-lookback:] - mean) / std)[None].astype(np.float32)  # (1, L, F)
    last = x[:, -1:, :]
    net = sl.load_model(model_file)
    if model == "segrnn":  # raw standardized windows in, (1, H, F) out
        with torch.no_grad():
            z = net(torch.as_tensor(x)).numpy()[0]
        return z * std + mean
    with torch.no_grad():
        if model == "many-to-one":
            z = net(torch.as_tensor(x - last)).numpy()  # (1, H) or (1, H, F)
        else:  # teacher-forced model fed its own predictions, one more step each round
            dec = np.zeros((1, horizon, x.shape[-1]), np.float32)  # [last input value (0, relative)] + p[:-1]
            for _ in range(horizon):
                z = net([torch.as_tensor(x - last), torch.as_tensor(dec)]).numpy()
                dec[:, 1:] = z[:, :-1]
    z = z + (last[:, 0, :] if features == "S" else last)  # back from relative
    z = z[0].reshape(horizon, -1)
    return z * std + mean


@pytest.mark.parametrize("features,model", [("S", "many-to-one"), ("M", "seq2seq"), ("S", "segrnn"),
                                            ("M", "segrnn")])
def test_predict_gives_the_next_horizon_values_after_the_last_window(tmp_path, capsys, features, model):
    from seqlayers.cli import main

    csv = make_csv(tmp_path / "s.csv")
    out = tmp_path / "out"
    assert run_cli(["--csv", str(csv), "--features", features, "--lookback", "12", "--horizon", "4", "--model", model,
                    "--units", "8", "--epochs", "1", "--borders", BORDERS, "--out", str(out), "--quiet",
                    *(SEGRNN if model == "segrnn" else [])]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), str(csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("step,OT" if features == "S" else "step,a,b,OT")
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1, 2, 3, 4]
    got = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(got, _by_hand(out / "model.seqlayers", csv, features, model), rtol=1e-4, atol=1e-4)


def test_predict_refuses_a_file_shorter_than_the_lookback(tmp_path, capsys):
    from seqlayers.cli import main

    csv = make_csv(tmp_path / "s.csv")
    out = tmp_path / "out"
    assert run_cli(["--csv", str(csv), "--lookback", "12", "--horizon", "4", "--units", "4", "--epochs", "1",
                    "--borders", BORDERS, "--out", str(out), "--quiet"]) == 0
    short = make_csv(tmp_path / "short.csv", rows=5)
    capsys.readouterr()
    assert main(["predict", str(out), str(short)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seqlayers predict: error: {short}: 5 data rows; the model reads the last --lookback 12 rows. "
        f"Give a file with at least 12 rows of OT.")


def test_segrnn_options_reach_the_model_and_the_schedule(tmp_path):
    csv = make_csv(tmp_path / "s.csv")
    out = tmp_path / "out"
    assert run_cli(["--csv", str(csv), "--features", "M", "--lookback", "12", "--horizon", "8", "--model", "segrnn",
                    *SEGRNN, "--decoder", "recurrent", "--norm", "revin", "--loss", "mae", "--lr-decay", "0.5",
                    "--learning-rate", "0.01", "--epochs", "5", "--patience", "9", "--borders", BORDERS, "--out",
                    str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["decoder"] == "recurrent" and report["config"]["norm"] == "revin"
    # constant for 3 epochs, then halved each epoch
    assert report["history"]["learning_rate"] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.0025])
    assert "mse" in report["history"]  # the loss is MAE, MSE the metric
    layers = {layer.name for layer in forecast.build(report["config"], 3)[0].layers}
    assert {"output_segment_0", "output_segment_1", "instance_norm"} <= layers  # two recurrent steps, RevIN
    assert "state_per_segment" not in layers
    with pytest.raises(ValueError, match=r"segment_rnn: lookback 12 is not a multiple of seg_len 5"):
        forecast.build(dict(report["config"], seg_len=5), 3)
