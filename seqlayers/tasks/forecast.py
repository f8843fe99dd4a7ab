"""Multi-step forecasting of a CSV time series: ``seqlayers train forecast``.

    seqlayers train forecast --csv ETTh1.csv --target OT --features S --lookback 96 --horizon 24 --out runs/h24
    # the series shipped with the package (1700-2008), split 1700-1899 / 1900-1949 / 1950-2008:
    seqlayers train forecast --csv seqlayers/data/samples/sunspots.csv --target SUNACTIVITY \
        --borders 200,250,309 --lookback 20 --horizon 3 --out runs/sunspots

The protocol is the one of the ETT benchmarks (Informer, Autoformer, DLinear):

* rows split in time order; for ETTh1 train 0-8639, val 8640-11519, test 11520-14399 (``--borders``),
  each later split starting ``lookback`` rows early so its first window predicts its first row;
* a ``StandardScaler`` fit on the training rows only, applied to every split;
* MSE and MAE on standardized values over every test window (stride 1);
* ``--features S``: the target column in, the target out; ``M``: every numeric column in and out.

Three models, all recurrent:

* ``many-to-one``: ``(B, L, F) -> LSTM -> (B, U) -> Dense(H * K) -> Reshape -> (B, H[, K])``, all H
  steps emitted at once;
* ``seq2seq``: an encoder LSTM hands its states to a decoder LSTM (``initial_state``), which is
  trained with teacher forcing (it reads the true previous value) and, at test time, decodes step
  by step, reading back its own previous prediction;
* ``segrnn``: SegRNN (Lin et al. 2023), ``seqlayers.topologies.segment_rnn``: channels folded into the
  batch, the look-back cut into segments of ``--seg-len`` steps, a GRU over the segments, and every
  output segment decoded at once from the GRU's state and a (segment, channel) query. It normalises
  each window itself (``--norm``), so its windows are not made relative by default.

Windows are taken relative to their last input value (on by default for the LSTMs): the model sees
``x - x[-1]`` and predicts ``y - x[-1]``, and ``x[-1]`` is added back before scoring. This is the
"subtract the last value" normalization of NLinear (Zeng et al. 2023); it is one subtraction on the
data, so the MSE the model is trained on is exactly the standardized MSE that is reported.
"""
from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.csv_reader import read_header, read_numeric_csv
from ..data.scaling import StandardScaler
from ..data.windows import chronological_splits, windows
from ..errors import require_extra
from ..layers import LSTM, Dense, Reshape, TimeDistributed
from ..models import Input, Model, Sequential
from ..topologies.segrnn import DECODERS, NORMALIZATIONS, segment_rnn
from ..training.callbacks import LearningRateScheduler
from ..training.optimizers import Adam
from . import common

NAME = "forecast"
HELP = "multi-step forecasting of a CSV time series (ETT protocol), many-to-one or seq2seq LSTM, or SegRNN"
MODELS = ("many-to-one", "seq2seq", "segrnn")
#: ``--units`` when not given: the LSTMs' 64, SegRNN's d_model 512
DEFAULT_UNITS = {"many-to-one": 64, "seq2seq": 64, "segrnn": 512}
ETT_BORDERS = (8640, 11520, 14400)

#: the segrnn options of a config written before they existed (``predict`` of an older run)
DEFAULTS = {"seg_len": 24, "dropout": 0.5, "decoder": "parallel", "norm": "last", "channel_embedding": True}

#: published test figures on ETTh1 (standardized MSE, MAE), for the report
PUBLISHED = {
    "S": {
        "Informer": {24: (.098, .247), 48: (.158, .319), 168: (.183, .346), 336: (.222, .387), 720: (.269, .435)},
        "LSTMa": {24: (.114, .272), 48: (.193, .358), 168: (.236, .392), 336: (.590, .698), 720: (.683, .768)},
        "DLinear (look-back 336)": {96: (.056, .180)},
    },
    "M": {
        "LSTMa": {24: (.650, .624), 48: (.702, .675), 168: (1.212, .867), 336: (1.424, .994), 720: (1.960, 1.322)},
        "DLinear (look-back 336)": {96: (.375, .399)},
    },
}


def add_arguments(p) -> None:
    p.add_argument("--csv", required=True, help="CSV file: a header line, then one row per time step")
    p.add_argument("--target", default="OT", help="the column to forecast (default OT)")
    p.add_argument("--features", choices=["S", "M"], default="S",
                   help="S: the target alone in and out; M: every numeric column in and out (default S)")
    p.add_argument("--lookback", type=int, default=96, help="input steps per window (default 96)")
    p.add_argument("--horizon", type=int, default=24, help="steps to forecast (default 24)")
    p.add_argument("--model", choices=MODELS, default="many-to-one")
    p.add_argument("--units", type=int, default=None,
                   help="LSTM units (default 64); for segrnn, SegRNN's d_model (default 512)")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=1.0,
                   help="from the 4th epoch on, multiply the learning rate by this each epoch (SegRNN: 0.9; "
                        "default 1: constant)")
    p.add_argument("--loss", choices=["mse", "mae"], default="mse", help="training loss (default mse)")
    s = p.add_argument_group("segrnn")
    s.add_argument("--seg-len", type=int, default=24, help="steps per segment (default 24)")
    s.add_argument("--dropout", type=float, default=0.5, help="dropout before the output Dense (default 0.5)")
    s.add_argument("--decoder", choices=DECODERS, default="parallel",
                   help="parallel: every output segment at once (PMF); recurrent: one after another (RMF)")
    s.add_argument("--norm", choices=list(NORMALIZATIONS), default="last",
                   help="instance normalisation of each window: revin (mean, std), last (subtract the last "
                        "value; default), none")
    s.add_argument("--no-channel-embedding", dest="channel_embedding", action="store_false",
                   help="decoder queries without the channel half (M only)")
    p.add_argument("--borders", default=",".join(map(str, ETT_BORDERS)),
                   help="end rows of train,val,test (default the ETTh1 protocol 8640,11520,14400)")
    p.add_argument("--relative", dest="relative", action="store_true", default=None,
                   help="feed windows relative to their last value (default for many-to-one and seq2seq)")
    p.add_argument("--no-relative", dest="relative", action="store_false",
                   help="feed raw standardized windows (default for segrnn, which normalises each window itself)")
    p.add_argument("--plots", type=int, default=4, help="test windows drawn in predictions.png (default 4)")
    common.add_common_arguments(p, epochs=10, batch_size=32, patience=3)


# ------------------------------------------------------------------ data
def load_splits(path, target: str, features: str, lookback: int, horizon: int, borders) -> dict:
    """Read, split, scale (train rows only) and window the series.

    Returns ``columns``, ``target_index``, the ``scaler`` and per split ``(x, y)`` with
    x ``(N, L, F)`` and y ``(N, H)`` for ``S`` or ``(N, H, F)`` for ``M``.
    """

    header = read_header(path)
    if target not in header:
        raise ValueError(f"{path}: no column {target!r} to forecast. Columns in the file: {', '.join(header)}. "
                         f"Pick one with --target.")
    columns, data = read_numeric_csv(path, columns=[target] if features == "S" else None)
    borders = tuple(int(b) for b in borders)
    if len(data) < borders[-1]:
        raise ValueError(f"{path}: the splits end at row {borders[-1]} (--borders {','.join(map(str, borders))}) "
                         f"but the file has {len(data)} data rows.")
    splits = chronological_splits(len(data), borders, lookback)
    for name, (a, b) in zip(("train", "val", "test"), splits):
        if b - a < lookback + horizon:
            raise ValueError(f"{path}: the {name} split (rows {a}-{b - 1}, {b - a} rows) is too short for one "
                             f"window of lookback {lookback} + horizon {horizon} = {lookback + horizon} rows.")
    scaler = StandardScaler().fit(data[:borders[0]])
    z = scaler.transform(data)
    t = columns.index(target)
    out = {"columns": columns, "target_index": t, "scaler": scaler, "splits": splits}
    for name, (a, b) in zip(("train", "val", "test"), splits):
        out[name] = windows(z[a:b], lookback, horizon, targets=t if features == "S" else None)
    return out


def relative(x: np.ndarray, y: np.ndarray, target_index: int | None):
    """Windows relative to their last input value: ``(x - x[:, -1], y - x[:, -1])`` and the offsets."""
    last = x[:, -1:, :]  # (N, 1, F)
    offset = last[:, 0, target_index][:, None] if y.ndim == 2 else last  # (N, 1) or (N, 1, F)
    return x - last, y - offset, offset


# ------------------------------------------------------------------ models
def many_to_one(lookback: int, n_features: int, horizon: int, n_out: int | None, units: int):
    """``(B, L, F) -> LSTM(U) -> Dense(H * K) -> (B, H)`` or ``(B, H, K)``."""

    shape = (horizon,) if n_out is None else (horizon, n_out)
    return Sequential([
        LSTM(units, input_shape=(lookback, n_features), name="encoder"),
        Dense(int(np.prod(shape)), name="head"),
        Reshape(shape),
    ], name="forecast_many_to_one")


class Seq2SeqForecaster:
    """Encoder-decoder for real values: three models sharing the same layers.

    model: ``[x (B, L, F), decoder_inputs (B, H, K)] -> (B, H, K)``; the decoder input at step t is
        the true value at step t-1 (teacher forcing), the last input value at step 0.
    encoder: ``x -> [h, c]``; decoder: ``[value (B, 1, K), h, c] -> [next value (B, 1, K), h, c]``.
    """

    def __init__(self, lookback: int, n_features: int, n_out: int, units: int):
        self.n_out = n_out
        x = Input(shape=(lookback, n_features), name="encoder_inputs")
        dec_in = Input(shape=(None, n_out), name="decoder_inputs")
        encoder = LSTM(units, return_state=True, name="encoder")
        decoder = LSTM(units, return_sequences=True, return_state=True, name="decoder")
        head = TimeDistributed(Dense(n_out), name="head")
        _, h, c = encoder(x)
        seq, _, _ = decoder(dec_in, initial_state=[h, c])
        self.model = Model([x, dec_in], head(seq), name="forecast_seq2seq")
        self.encoder = Model(x, [h, c], name="forecast_encoder")
        step_in = Input(shape=(None, n_out), name="decoder_step")
        h_in, c_in = Input(shape=(units,), name="state_h"), Input(shape=(units,), name="state_c")
        step, h2, c2 = decoder(step_in, initial_state=[h_in, c_in])
        self.decoder = Model([step_in, h_in, c_in], [head(step), h2, c2], name="forecast_decoder")

    @staticmethod
    def decoder_inputs(x: np.ndarray, y: np.ndarray, target_index: int | None) -> np.ndarray:
        """Teacher forcing: ``[last input value] + y[:-1]`` as ``(N, H, K)``."""
        y3 = y[:, :, None] if y.ndim == 2 else y
        # (numpy's stubs reject a list inside a tuple index; numpy takes it)
        first = x[:, -1:, [target_index]] if y.ndim == 2 else x[:, -1:, :]  # type: ignore[index]  # (N, 1, K)
        return np.concatenate([first, y3[:, :-1]], axis=1).astype(np.float32)

    def predict(self, x: np.ndarray, horizon: int, target_index: int | None, batch_size: int = 1024) -> np.ndarray:
        """Step-by-step decoding: each predicted value is the next step's input."""
        self.model.eval()
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = torch.as_tensor(x[i:i + batch_size])
                h, c = self.encoder(xb)
                value = xb[:, -1:, [target_index]] if target_index is not None else xb[:, -1:, :]  # (B, 1, K)
                steps = []
                for _ in range(horizon):
                    value, h, c = self.decoder([value, h, c])
                    steps.append(value)
                outs.append(torch.cat(steps, dim=1).numpy())  # (B, H, K)
        y = np.concatenate(outs)
        return y[:, :, 0] if target_index is not None else y


def decoded_mse(s2s: Seq2SeqForecaster, x, y, horizon: int, target_index: int | None) -> dict:
    """``val_decoded_mse``: val MSE of step-by-step decoding, as at test time."""
    was_training = s2s.model.training
    p = s2s.predict(x, horizon, target_index)
    s2s.model.train(was_training)
    return {"val_decoded_mse": float(np.mean((p - y) ** 2))}


def _plot(path, x, y_true, y_pred, target_index, lookback, title, n):
    matplotlib = require_extra("matplotlib", "tasks", "the forecast plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = np.linspace(0, len(x) - 1, n).astype(int)
    fig, axes = plt.subplots(len(idx), 1, figsize=(9, 2.2 * len(idx)), squeeze=False)
    for ax, i in zip(axes[:, 0], idx):
        past = x[i, :, target_index]
        true = y_true[i] if y_true.ndim == 2 else y_true[i, :, target_index]
        pred = y_pred[i] if y_pred.ndim == 2 else y_pred[i, :, target_index]
        H = len(true)
        ax.plot(np.arange(-lookback, 0), past, color="0.5", label="input")
        ax.plot(np.arange(H), true, color="k", label="truth")
        ax.plot(np.arange(H), pred, color="tab:red", label="forecast")
        ax.set_title(f"test window {i}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _scores(y, p) -> dict:
    d = (p - y).astype(np.float64)
    return {"mse": float(np.mean(d ** 2)), "mae": float(np.mean(np.abs(d)))}


# ------------------------------------------------------------------ task
def _windows(d: dict, relative_to_last: bool) -> dict:
    """Each split's (x, y, offset) as float32; with ``relative_to_last``, values relative to the
    last input step (``offset`` adds them back), else a zero offset."""
    data = {}
    for split in ("train", "val", "test"):
        x, y = d[split]
        x, y = x.astype(np.float32), y.astype(np.float32)
        off = np.zeros_like(y[:, :1])  # (N, 1[, K]): nothing to add back
        if relative_to_last:
            x, y, off = relative(x, y, d["target_index"])
        data[split] = (x, y, off)
    return data


def build(config: dict, n_features: int):
    """The model of a run's config (``vars(args)`` or ``task.json``'s): ``(model, None)`` for
    many-to-one and segrnn, ``(None, Seq2SeqForecaster)`` for seq2seq."""
    S, F, H, L = config["features"] == "S", n_features, int(config["horizon"]), int(config["lookback"])
    units = int(config["units"])
    if config["model"] == "many-to-one":
        return many_to_one(L, F, H, None if S else F, units), None
    if config["model"] == "segrnn":
        return segment_rnn(L, H, F, seg_len=int(config["seg_len"]), units=units, dropout=float(config["dropout"]),
                           decoder=config["decoder"], normalization=config["norm"],
                           channel_embedding=bool(config["channel_embedding"])), None
    return None, Seq2SeqForecaster(L, F, 1 if S else F, units)


def lr_schedule(learning_rate: float, decay: float):
    """SegRNN's (and DLinear's "type3") schedule: constant for 3 epochs, then times ``decay`` a epoch."""
    return lambda epoch: learning_rate * decay ** max(0, epoch - 2)


def _train(args, d: dict, data: dict, out):
    """Build, compile and fit the ``--model`` chosen: (the many-to-one or segrnn model or None, the
    seq2seq forecaster or None, the model trained, its history)."""
    S = args.features == "S"
    ti = d["target_index"] if S else None
    model, s2s = build(vars(args), d["train"][0].shape[-1])
    if s2s is None:
        fit_model = model
        fit_x = {k: data[k][0] for k in data}
    else:
        fit_model = s2s.model
        fit_x = {k: [data[k][0], s2s.decoder_inputs(data[k][0], data[k][1], ti)] for k in data}
    three_d = s2s is not None or args.model == "segrnn"  # (N, H, K) outputs, K = 1 for S
    fit_y = {k: (data[k][1][:, :, None] if (three_d and S) else data[k][1]) for k in data}
    fit_model.compile(optimizer=Adam(learning_rate=args.learning_rate), loss=args.loss,
                      metrics=["mae" if args.loss == "mse" else "mse"])
    extra: dict[str, Any] = {"callbacks": []}
    if args.lr_decay != 1.0:
        extra["callbacks"].append(LearningRateScheduler(lr_schedule(args.learning_rate, args.lr_decay)))
    if s2s is not None:  # teacher-forced val loss flatters a decoder: stop on free-running val MSE
        val_x, val_y = data["val"][:2]
        extra["monitor"] = "val_decoded_mse"
        extra["callbacks"].append(common.EpochScores(lambda _model: decoded_mse(s2s, val_x, val_y, args.horizon, ti)))
    history = common.fit_resumable(fit_model, fit_x["train"], fit_y["train"], out=out, args=args,
                                   validation_data=(fit_x["val"], fit_y["val"]), name="model", shuffle=True,
                                   **extra)
    return model, s2s, fit_model, history


def _evaluate(args, d: dict, data: dict, model, s2s, out) -> dict:
    """Val and test scores (and the persistence baseline's on test); the test predictions plotted."""
    S = args.features == "S"
    results = {}
    for split in ("val", "test"):
        x, y, off = data[split]
        if s2s is None:
            p = np.asarray(model.predict(x, batch_size=1024, verbose=0))
            p = p[:, :, 0] if (S and p.ndim == 3) else p  # segrnn's (N, H, 1) for S
        else:
            p = s2s.predict(x, args.horizon, d["target_index"] if S else None)
        results[split] = _scores(y + off, p + off)
        if split == "test":  # the naive baseline: repeat the last input value H times
            last = d["test"][0][:, -1:, :]  # (N, 1, F)
            results["persistence"] = _scores(y + off, np.broadcast_to(
                last[:, :, d["target_index"]] if S else last, (y + off).shape))
            _plot(out / "predictions.png", d["test"][0], y + off, p + off, d["target_index"], args.lookback,
                  f"{Path(args.csv).name} {args.features} {args.model} L={args.lookback} H={args.horizon}: "
                  f"test MSE {results['test']['mse']:.3f}", max(1, args.plots))
    return results


def _rows(results: dict, published: dict, report: dict, wall: float) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [
        ("test MSE (standardized)", f"{results['test']['mse']:.4f}"),
        ("test MAE (standardized)", f"{results['test']['mae']:.4f}"),
        ("val MSE", f"{results['val']['mse']:.4f}"),
        ("persistence (repeat last value) test MSE / MAE",
         f"{results['persistence']['mse']:.4f} / {results['persistence']['mae']:.4f}")]
    rows += [(f"{name} test MSE / MAE (published)", f"{v['mse']:.3f} / {v['mae']:.3f}")
             for name, v in published.items()]
    rows += [("epochs", report["epochs_run"]), ("wall time (s)", f"{wall:.0f}"),
             ("training CPU time (s)", f"{report['train_cpu_seconds']:.0f}"),
             ("peak resident memory of the process (MB)", report["peak_rss_mb"])]
    return rows


def resolve_defaults(args) -> None:
    """``--units`` and relative windows default by model (see ``DEFAULT_UNITS``; segrnn normalises itself)."""
    if args.units is None:
        args.units = DEFAULT_UNITS[args.model]
    if args.relative is None:
        args.relative = args.model != "segrnn"


def run(args) -> int:
    clock = common.Stopwatch()
    resolve_defaults(args)
    out = common.setup(args)
    borders = [int(b) for b in str(args.borders).split(",")]
    if len(borders) != 3:
        raise ValueError(f"--borders: expected three end rows train,val,test, got {args.borders!r}.")
    d = load_splits(args.csv, args.target, args.features, args.lookback, args.horizon, borders)
    common.progress(args, f"{args.csv}: columns {', '.join(d['columns'])}; windows train {len(d['train'][0])}, "
                          f"val {len(d['val'][0])}, test {len(d['test'][0])}")
    data = _windows(d, args.relative)
    model, s2s, fit_model, history = _train(args, d, data, out)
    results = _evaluate(args, d, data, model, s2s, out)
    wall = clock()
    published = {name: dict(zip(("mse", "mae"), figs[args.horizon]))
                 for name, figs in PUBLISHED[args.features].items() if args.horizon in figs}
    config = common.arguments(args)
    report = {
        "task": NAME, "command": common.command_line(),
        "config": config, "columns": d["columns"], "splits": d["splits"],
        "windows": {k: int(len(data[k][0])) for k in data},
        "val": results["val"], "test": results["test"], "persistence_test": results["persistence"],
        "published_test": published,
        "epochs_run": len(history.get("loss", [])), "history": history,
        "scaler": d["scaler"].state_dict(), "wall_time_s": round(wall, 1), "machine": common.machine(),
        **common.training_time(history),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),  # Linux: in KiB
    }
    title = f"forecast {Path(args.csv).name}: {args.features}, {args.model}, lookback {args.lookback}, " \
            f"horizon {args.horizon}"
    common.write_report(out, report, title, _rows(results, published, report, wall),
                        notes="MSE/MAE on values standardized with train-row statistics, every test window, stride 1.")
    saved = dict(config, columns=d["columns"], scaler=d["scaler"].state_dict())  # what predict needs
    common.save_task(out, fit_model, NAME, json.loads(json.dumps(saved, default=str)))
    common.progress(args, f"test MSE {results['test']['mse']:.4f} MAE {results['test']['mae']:.4f} "
                          f"({wall:.0f} s); report in {out / 'report.md'}")
    return 0


# ------------------------------------------------------------------ seqlayers predict
def predict(out_dir, config, input_path, args) -> int:
    """The next ``horizon`` values after the last ``lookback`` rows of a CSV with the training columns.

    Writes a CSV: ``step`` (1..H) and the forecast column(s) (the target for ``S``, every column for
    ``M``), in the units of the file (the training scaler is undone).
    """
    S = config["features"] == "S"
    columns = [config["target"]] if S else config["columns"]
    _, data = read_numeric_csv(input_path, columns=columns)
    L, H = int(config["lookback"]), int(config["horizon"])
    if len(data) < L:
        raise ValueError(f"{input_path}: {len(data)} data rows; the model reads the last --lookback {L} rows. "
                         f"Give a file with at least {L} rows of {', '.join(columns)}.")
    scaler = StandardScaler().load_state_dict(config["scaler"])
    x = scaler.transform(data[-L:])[None].astype(np.float32)  # (1, L, F)
    t = 0 if S else None
    offset = np.zeros((1, 1) if S else (1, 1, x.shape[-1]), dtype=np.float32)
    if config.get("relative", True):
        x, _, offset = relative(x, np.zeros((1, H) if S else (1, H, x.shape[-1]), np.float32), 0 if S else None)
    model, s2s = build(dict(DEFAULTS, **config), x.shape[-1])
    if s2s is None:
        common.load_weights(out_dir, model)
        z = np.asarray(model.predict(x, verbose=0))
        z = z[:, :, 0] if (S and z.ndim == 3) else z  # segrnn's (1, H, 1) for S
    else:
        common.load_weights(out_dir, s2s.model)
        z = s2s.predict(x, H, t)
    z = (z + offset)[0]  # (H,) or (H, F), standardized
    assert scaler.scale_ is not None and scaler.mean_ is not None  # load_state_dict set them
    values = z * scaler.scale_[0] + scaler.mean_[0] if S else scaler.inverse_transform(z)
    rows = [",".join(["step"] + columns)]
    rows += [",".join([str(step + 1)] + [f"{v:.6g}" for v in np.atleast_1d(row)]) for step, row in enumerate(values)]
    return common.write_output("\n".join(rows) + "\n", args)
