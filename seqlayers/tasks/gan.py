"""Sequence GANs: ``seqlayers train gan`` on TimeGAN's sines or on a CSV series (the seed 001 reader's GAN).

    # unconditional, TimeGAN's benchmark: 10 000 sines of 24 steps and 5 features in [0, 1]
    seqlayers train gan --data sines --out runs/gan_sines
    # conditional: the first 48 hours of OT in, 50 sampled next 48 hours out (ETT's train/val/test rows)
    seqlayers train gan --data csv --csv ETTh1.csv --target OT --halves 48,48 --out runs/gan_etth1
    seqlayers predict runs/gan_etth1 recent.csv --samples 50      # 50 continuations of the file's last 48 rows

Sines: the GAN is ``unconditional_generator`` against ``sequence_discriminator``; scored with
TimeGAN's discriminative and predictive scores (``generative/scores.py``), plus the discriminative
score of fresh real sines (the floor a perfect generator would get from the same classifier).

CSV: rows split in time order (``--borders``, ETTh1's 8640/11520/14400 by default), standardized
with the training rows' statistics, cut into windows of ``T1 + T2`` rows, each taken relative to
the last value of its first half (as ``seqlayers train forecast`` does). The generator is
``conditional_generator`` (aligned when ``T1 == T2`` unless ``--form encoder_decoder``), the
discriminator reads the joined ``T1 + T2`` steps. On every ``--eval-stride``-th test window it
reports the CRPS of ``--samples`` continuations against two baselines: the deterministic seq2seq
forecaster of ``seqlayers train forecast`` (its CRPS is its MAE) and that forecaster plus Gaussian
noise with the per-step variance of its validation residuals; the spread of the samples
(mode-collapse check); and the discriminative score of each against the real test windows.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..data.csv_reader import read_numeric_csv
from ..data.scaling import StandardScaler
from ..data.sines import sines
from ..errors import require_extra
from ..generative import (
    SequenceGAN,
    conditional_generator,
    crps,
    discriminative_score,
    pca_2d,
    predictive_score,
    sequence_discriminator,
    spread,
    unconditional_generator,
)
from ..generative.builders import FORMS
from ..generative.losses import LOSSES
from ..training.callbacks import BackupAndRestore, Callback, EarlyStopping
from ..training.optimizers import Adam
from ..training.seeding import rng_state, set_rng_state
from . import common, forecast

NAME = "gan"
HELP = "sequence GAN: TimeGAN's sines (unconditional) or a CSV series' second half from its first half"
#: sines' post-hoc scores when --score-layers / --score-repeats are 0: TimeGAN's code's (one GRU
#: layer; the mean of 10, its --metric_iteration)
SINES_SCORE_LAYERS, SINES_SCORE_REPEATS = 1, 10


def add_arguments(p) -> None:
    p.add_argument("--data", choices=["sines", "csv"], default="sines", help="TimeGAN's sines or --csv")
    p.add_argument("--csv", default=None, help="CSV file (--data csv): a header line, one row per time step")
    p.add_argument("--target", default="OT", help="the column to generate (default OT)")
    p.add_argument("--halves", default="48,48", help="T1,T2: steps given and steps generated (default 48,48)")
    p.add_argument("--borders", default=",".join(map(str, forecast.ETT_BORDERS)),
                   help="end rows of train,val,test (default ETTh1's 8640,11520,14400)")
    p.add_argument("--n-series", type=int, default=10000, help="sines: series generated (default 10000)")
    p.add_argument("--length", type=int, default=24, help="sines: steps per series (default 24)")
    p.add_argument("--features", type=int, default=5, help="sines: features per series (default 5)")
    p.add_argument("--scale", choices=["none", "minmax"], default="none",
                   help="sines: train on the series as drawn (values in [0.5, 1]) or min-max scaled per feature to "
                        "[0, 1] as TimeGAN's code does; the samples are scaled back before scoring (default none)")
    p.add_argument("--form", choices=FORMS, default="auto", help="conditional generator: aligned (T1 == T2) or "
                                                                 "encoder_decoder (default auto)")
    p.add_argument("--cell", choices=["lstm", "gru"], default="gru")
    p.add_argument("--units", type=int, default=32, help="recurrent units of both networks (default 32)")
    p.add_argument("--noise-dim", type=int, default=8, help="noise features per step (default 8)")
    p.add_argument("--static-noise", action="store_true",
                   help="one noise vector per series, repeated at every step (default: a fresh draw per step)")
    p.add_argument("--bidirectional", action="store_true", help="a Bidirectional discriminator")
    p.add_argument("--ema", type=float, default=0.999,
                   help="sample from a moving average of the generator's weights with this decay (0: off)")
    p.add_argument("--g-learning-rate", type=float, default=None,
                   help="the generator's Adam learning rate (default: --learning-rate, the discriminator's)")
    p.add_argument("--loss", choices=LOSSES, default="non_saturating")
    p.add_argument("--supervised-weight", type=float, default=0.0,
                   help="conditional: weight of the supervised MSE term in the generator's loss (default 0)")
    p.add_argument("--moment-weight", type=float, default=0.0,
                   help="weight of TimeGAN's moment term (batch mean and std per step and feature, generated vs "
                        "real) in the generator's loss (default 0; TimeGAN uses 100)")
    p.add_argument("--correlation-weight", type=float, default=0.0,
                   help="weight of the correlation term (per step, the batch's correlations across features, "
                        "generated vs real) in the generator's loss (default 0)")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator updates per generator update (default 1)")
    p.add_argument("--select-every", type=int, default=0,
                   help="sines: every K epochs score the generator against a validation draw of real sines "
                        "(discriminative score) and keep the best epoch's weights (default 0: keep the last)")
    p.add_argument("--select-iterations", type=int, default=1000,
                   help="updates of the post-hoc classifier of --select-every (default 1000)")
    p.add_argument("--samples", type=int, default=50, help="csv: continuations sampled per test window (default 50)")
    p.add_argument("--eval-stride", type=int, default=1, help="csv: score every k-th test window (default 1)")
    p.add_argument("--forecaster-epochs", type=int, default=10, help="csv: epochs of the seq2seq baseline")
    p.add_argument("--score-units", type=_default_or_count("GRU units; 0: max(F // 2, 1) on sines, 8 on a CSV"),
                   default=0,
                   help="units of the post-hoc GRUs (default 0: max(F // 2, 1) on sines as TimeGAN's, 8 on a CSV)")
    p.add_argument("--score-iterations", type=_score_iterations, default="2000,5000",
                   help="updates of the post-hoc classifier,predictor (default TimeGAN's 2000,5000)")
    p.add_argument("--score-layers", type=_default_or_count("GRU layers; 0: 1 on sines, 2 on a CSV"), default=0,
                   help="GRU layers of the post-hoc classifier (default 0: 1 on sines as TimeGAN's code, 2 on a CSV)")
    p.add_argument("--score-repeats", type=_default_or_count("classifiers averaged; 0: 10 on sines, 1 on a CSV"),
                   default=0,
                   help="classifiers and predictors per score, averaged (default 0: 10 on sines as TimeGAN's "
                        "--metric_iteration, 1 on a CSV)")
    common.add_common_arguments(p, epochs=50, batch_size=128, patience=3)


# ------------------------------------------------------------------ training
def _ints(text: str, n: int, name: str) -> list[int]:
    try:
        parts = [int(v) for v in str(text).split(",")]
    except ValueError:
        parts = []
    if len(parts) != n or min(parts) < 1:
        raise ValueError(f"--{name}: expected {n} positive integers separated by commas, got {text!r}.")
    return parts


def _default_or_count(what: str):
    """argparse ``type=`` of a ``--score-*`` count: an integer >= 0 (``what`` says what 0 stands for).
    Anything else is rejected when the command line is parsed, before any training (argparse names the
    flag), instead of reaching the post-hoc scorers after it."""
    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected an integer >= 0 ({what}), got {text!r}. Give a positive "
                                             f"number, or 0 for the default.")
        return value
    return count


def _score_iterations(text: str) -> str:
    """argparse ``type=`` of ``--score-iterations``: checked when parsed, kept as the text (``_ints`` reads it)."""
    try:
        _ints(text, 2, "score-iterations")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 2 positive integers separated by a comma (the post-hoc "
                                         f"classifier's and predictor's updates), got {text!r}. Give e.g. "
                                         f"2000,5000 (TimeGAN's).") from None
    return text


class ValidationDiscriminative(Callback):
    """Every ``every`` epochs, ``val_discriminative``: the discriminative score of ``len(val)`` series
    of the GAN's sampler against the real validation series ``val`` (carried to the epochs between,
    so ``EarlyStopping(restore_best_weights=True)`` can keep the best epoch). The random generators
    are put back after scoring, so the GAN's own draws do not depend on it."""

    def __init__(self, val: np.ndarray, every: int, iterations: int, units: int, seed: int):
        super().__init__()
        self.val, self.every, self.iterations, self.units, self.seed = val, every, iterations, units, seed
        self.last: float | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.last is None or (epoch + 1) % self.every == 0:
            tensors, meta = rng_state()
            try:
                torch.manual_seed(self.seed)
                fake = self.model.sample(len(self.val), 1, steps=self.val.shape[1])[0]
                self.last = discriminative_score(self.val, fake, units=self.units, iterations=self.iterations,
                                                 seed=self.seed)
            finally:
                set_rng_state(tensors, meta)
        if logs is not None:
            logs["val_discriminative"] = self.last


def fit_gan(gan: SequenceGAN, x, y, *, out: Path, args, validation_data=None, callbacks=()) -> dict:
    """``gan.fit`` resumable: ``out/backup_gan`` while training (rerun the command to resume); when
    done, ``out/gan.safetensors`` + ``gan.history.json``, which a rerun loads instead of training."""
    done = common.load_finished(gan, out, "gan", args)
    if done is not None:
        return done
    clock = common.Stopwatch()
    h = gan.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, validation_data=validation_data,
                callbacks=[BackupAndRestore(backup_dir=str(out / "backup_gan")), *callbacks],
                verbose=0 if args.quiet else 2, seed=args.seed)
    history = common.history_dict(h)
    history["train_cpu_seconds"] = [clock.cpu()]  # this process's share (a resumed run: since resuming)
    common.save_finished(gan, out, "gan", history)
    return history


def _compile(gan: SequenceGAN, args) -> None:
    gan.compile(d_optimizer=Adam(learning_rate=args.learning_rate, beta_1=0.5),
                g_optimizer=Adam(learning_rate=args.g_learning_rate or args.learning_rate, beta_1=0.5), loss=args.loss,
                d_steps=args.d_steps, supervised_weight=args.supervised_weight,
                moment_weight=args.moment_weight, correlation_weight=args.correlation_weight)


# ------------------------------------------------------------------ pictures
def _plt():
    matplotlib = require_extra("matplotlib", "tasks", "the GAN pictures")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pca(path, real, fake, title: str) -> None:
    """Real and generated windows on the real windows' two principal axes."""
    plt = _plt()
    r, f = pca_2d(real, fake)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(r[:, 0], r[:, 1], s=3, alpha=0.3, color="tab:red", label="real")
    ax.scatter(f[:, 0], f[:, 1], s=3, alpha=0.3, color="tab:blue", label="generated")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(markerscale=4)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fan(path, x, y, samples, point, idx, title: str) -> None:
    """Fan charts: the given first half, the true second half, the samples' 5-95% and 25-75% bands and median."""
    plt = _plt()
    fig, axes = plt.subplots(len(idx), 1, figsize=(9, 2.2 * len(idx)), squeeze=False)
    T1, T2 = x.shape[1], y.shape[1]
    t = np.arange(T2)
    for ax, i in zip(axes[:, 0], idx):
        q = np.quantile(samples[:, i, :, 0], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        ax.plot(np.arange(-T1, 0), x[i, :, 0], color="0.4", label="given first half")
        ax.fill_between(t, q[0], q[4], color="tab:blue", alpha=0.2, label="GAN 5-95%")
        ax.fill_between(t, q[1], q[3], color="tab:blue", alpha=0.35, label="GAN 25-75%")
        ax.plot(t, q[2], color="tab:blue", lw=1, label="GAN median")
        ax.plot(t, point[i], color="tab:orange", lw=1, label="seq2seq forecast")
        ax.plot(t, y[i, :, 0], color="k", lw=1.2, label="truth")
        ax.set_title(f"test window {i}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=7, ncol=3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ------------------------------------------------------------------ sines (unconditional)
def minmax(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, ``lo`` and ``span`` over all series and steps: ``(real - lo) / span`` lies in [0, 1]
    (TimeGAN's ``MinMaxScaler``, applied before training; samples go back as ``s * span + lo``)."""
    lo = real.min(axis=(0, 1))
    return lo, real.max(axis=(0, 1)) - lo + 1e-7


def run_sines(args, out: Path, clock) -> dict:
    real = sines(args.n_series, args.length, args.features, seed=args.seed)
    F, T = args.features, args.length
    lo, span = minmax(real) if args.scale == "minmax" else (np.zeros(F, np.float32), np.ones(F, np.float32))
    gen = unconditional_generator(T, args.noise_dim, F, args.units, args.cell, output_activation="sigmoid")
    gan = SequenceGAN(gen, sequence_discriminator(T, F, args.units, args.cell, bidirectional=args.bidirectional),
                      noise_dim=args.noise_dim, static_noise=args.static_noise, ema=args.ema)
    _compile(gan, args)
    units = args.score_units or max(1, F // 2)
    post_hoc = dict(units=units, repeats=args.score_repeats or SINES_SCORE_REPEATS, seed=args.seed)
    select = []
    if args.select_every:  # a validation draw of real sines, apart from the training and the scoring series
        val = (sines(2000, T, F, seed=args.seed + 20_000) - lo) / span  # on the scale the generator writes
        select = [ValidationDiscriminative(val, args.select_every, args.select_iterations, units, args.seed + 1),
                  EarlyStopping(monitor="val_discriminative", mode="min", patience=args.epochs,
                                restore_best_weights=True)]
    history = fit_gan(gan, ((real - lo) / span).astype(np.float32), None, out=out, args=args, callbacks=select)
    train_cpu = clock.cpu()
    synthetic = SinesSampler(gan, T, lo, span)(len(real), seed=args.seed)  # the data's own scale
    it_d, it_p = _ints(args.score_iterations, 2, "score-iterations")
    fresh = sines(args.n_series, T, F, seed=args.seed + 10_000)  # another draw of real sines
    disc = dict(post_hoc, iterations=it_d, n_layers=args.score_layers or SINES_SCORE_LAYERS)
    pred = dict(post_hoc, iterations=it_p)
    scores = {
        "discriminative": discriminative_score(real, synthetic, **disc),
        "predictive": predictive_score(real, synthetic, **pred),
        "discriminative_real_vs_real": discriminative_score(real, fresh, **disc),
        "predictive_real_on_real": predictive_score(real, fresh, **pred),
    }
    plot_pca(out / "pca.png", real[:1000], synthetic[:1000],
             f"sines: real vs generated (PCA), discriminative {scores['discriminative']:.3f}")
    common.save_task(out, gan.sampler, NAME, dict(_saved_config(args), scale_lo=lo.tolist(), scale_span=span.tolist()))
    return {"scores": scores, "history": history, "train_cpu_seconds": train_cpu, "score_units": units}


class SinesSampler:
    """A sines GAN's sampler in the data's own scale: ``sampler(n, seed)`` draws ``n`` series ``(n, T, F)``
    from ``gan.sample`` (noise seeded with ``seed``; the global random state is left as it was) and scales
    them back per feature, ``s * span + lo`` (``--scale minmax``; ``lo = 0, span = 1`` otherwise). The
    task scores these numbers; ``load_sampler`` rebuilds the same sampler from a finished run's folder."""

    def __init__(self, gan: SequenceGAN, steps: int, lo, span):
        self.gan, self.steps = gan, int(steps)
        self.lo, self.span = np.asarray(lo, dtype=np.float32), np.asarray(span, dtype=np.float32)  # (F,) each

    def __call__(self, n: int, seed: int = 0) -> np.ndarray:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            s = self.gan.sample(n, 1, steps=self.steps)[0]  # (n, T, F) on the generator's scale
        return (s * self.span + self.lo).astype(np.float32)


def load_sampler(out_dir) -> SinesSampler:
    """The sampler of a finished ``seqlayers train gan --data sines`` run, from its ``--out`` folder.

    The generator is rebuilt from ``task.json`` and ``weights.safetensors`` is loaded into it (no code runs
    from the files); its samples are scaled back with the saved ``scale_lo`` / ``scale_span``, so
    ``load_sampler(out)(N, seed=S)`` returns the series the run scored (``--n-series N --seed S``). A
    folder saved before those were saved samples on the generator's own scale, as ``model.seqlayers``
    (the bare generator) always does.
    """
    task, config = common.load_task(out_dir)
    if task != NAME or config.get("data") != "sines":
        raise ValueError(f"{out_dir}: load_sampler reads a `seqlayers train gan --data sines` run, but this folder "
                         f"holds task {task!r} on {config.get('data')!r}. A CSV GAN continues a series: sample it "
                         f"with `seqlayers predict {out_dir} FILE.csv` (continuations in the file's units).")
    T, F, Z = int(config["length"]), int(config["features"]), int(config["noise_dim"])
    gen = unconditional_generator(T, Z, F, int(config["units"]), config["cell"], output_activation="sigmoid")
    common.load_weights(out_dir, gen)
    gan = SequenceGAN(gen, sequence_discriminator(T, F, 1), noise_dim=Z,
                      static_noise=bool(config.get("static_noise", False)))
    return SinesSampler(gan, T, config.get("scale_lo", [0.0] * F), config.get("scale_span", [1.0] * F))


# ------------------------------------------------------------------ csv (conditional)
def load_windows(args) -> dict:
    """Each split's ``(x (N, T1, 1), y (N, T2, 1))`` relative to the first half's last value, and the scaler."""
    if not args.csv:
        raise ValueError("--data csv needs --csv PATH (e.g. --csv ETTh1.csv --target OT).")
    T1, T2 = _ints(args.halves, 2, "halves")
    d = forecast.load_splits(args.csv, args.target, "S", T1, T2, _ints(args.borders, 3, "borders"))
    out = {"scaler": d["scaler"], "splits": d["splits"]}
    for split in ("train", "val", "test"):
        x, y = d[split]
        x, y, _ = forecast.relative(x.astype(np.float32), y.astype(np.float32), 0)
        out[split] = (x, y[:, :, None])  # (N, T1, 1), (N, T2, 1)
    return out


def train_forecaster(args, data: dict, out: Path) -> forecast.Seq2SeqForecaster:
    """The deterministic baseline: ``seqlayers train forecast``'s seq2seq LSTM on the same windows."""
    T1 = data["train"][0].shape[1]
    s2s = forecast.Seq2SeqForecaster(T1, 1, 1, args.units)
    fx = {k: [data[k][0], s2s.decoder_inputs(data[k][0], data[k][1][:, :, 0], 0)] for k in ("train", "val")}
    s2s.model.compile(optimizer=Adam(learning_rate=1e-3), loss="mse")
    val_x, val_y = data["val"][0], data["val"][1][:, :, 0]
    T2 = val_y.shape[1]
    score = common.EpochScores(lambda _m: forecast.decoded_mse(s2s, val_x, val_y, T2, 0))
    fargs = argparse.Namespace(**dict(vars(args), epochs=args.forecaster_epochs, batch_size=64))
    common.fit_resumable(s2s.model, fx["train"], data["train"][1], out=out, args=fargs,
                         validation_data=(fx["val"], data["val"][1]), name="forecaster", monitor="val_decoded_mse",
                         callbacks=[score], shuffle=True)
    return s2s


def conditional_scores(args, gan, s2s, data: dict, out: Path) -> dict:
    """CRPS, spread and discriminative scores of the GAN and of both baselines on the test windows."""
    x, y = (a[::args.eval_stride] for a in data["test"])
    T2, S = y.shape[1], args.samples
    torch.manual_seed(args.seed)
    samples = gan.sample(x, S)  # (S, N, T2, 1)
    point = s2s.predict(x, T2, 0)  # (N, T2)
    val_x, val_y = data["val"]
    sigma = (s2s.predict(val_x, T2, 0) - val_y[:, :, 0]).std(axis=0)  # (T2,) residual std per step
    rng = np.random.default_rng(args.seed)
    noisy = point[None] + sigma[None, None] * rng.standard_normal((S,) + point.shape)  # (S, N, T2)
    real = np.concatenate([x, y], axis=1)
    join = lambda tail: np.concatenate([x, tail.reshape(y.shape)], axis=1)  # noqa: E731
    units = args.score_units or 8
    it_d = _ints(args.score_iterations, 2, "score-iterations")[0]
    post_hoc = dict(units=units, n_layers=args.score_layers or 2, iterations=it_d, seed=args.seed,
                    repeats=args.score_repeats or 1)
    disc = lambda tail: discriminative_score(real, join(tail), **post_hoc)  # noqa: E731
    res = {
        "windows": int(len(x)), "samples": S, "score_units": units,
        "crps": {"gan": crps(samples[..., 0], y[:, :, 0]), "forecaster": crps(point[None], y[:, :, 0]),
                 "forecaster_plus_noise": crps(noisy, y[:, :, 0])},
        "spread": {"gan": spread(samples[..., 0]), "forecaster_plus_noise": spread(noisy),
                   "forecaster_rmse": float(np.sqrt(np.mean((point - y[:, :, 0]) ** 2)))},
        "discriminative": {"gan": disc(samples[0]), "forecaster": disc(point),
                           "forecaster_plus_noise": disc(noisy[0])},
    }
    n_plot = min(len(x), 4)
    plot_fan(out / "fan_chart.png", x, y, samples, point, np.linspace(0, len(x) - 1, n_plot).astype(int),
             f"{Path(args.csv).name} {args.target}: GAN continuations (values relative to the last given one)")
    plot_pca(out / "pca.png", real[:2000], join(samples[0])[:2000],
             f"{args.target} test windows: real vs GAN (PCA)")
    return res


def run_csv(args, out: Path, clock) -> dict:
    data = load_windows(args)
    T1, T2 = data["train"][0].shape[1], data["train"][1].shape[1]
    common.progress(args, f"{args.csv}: windows train {len(data['train'][0])}, val {len(data['val'][0])}, "
                          f"test {len(data['test'][0])} ({T1} given + {T2} generated steps)")
    gen = conditional_generator(T1, T2, 1, args.noise_dim, args.units, args.cell, args.form)
    gan = SequenceGAN(gen, sequence_discriminator(T1 + T2, 1, args.units, args.cell,
                                                  bidirectional=args.bidirectional), noise_dim=args.noise_dim,
                      static_noise=args.static_noise, ema=args.ema)
    _compile(gan, args)
    history = fit_gan(gan, *data["train"], out=out, args=args, validation_data=data["val"])
    train_cpu = clock.cpu()
    s2s = train_forecaster(args, data, out)
    res = conditional_scores(args, gan, s2s, data, out)
    common.save_task(out, gan.sampler, NAME, dict(_saved_config(args), scaler=data["scaler"].state_dict()))
    return {"scores": res, "history": history, "train_cpu_seconds": train_cpu, "splits": data["splits"]}


def _saved_config(args) -> dict:
    config = common.arguments(args)
    return json.loads(json.dumps(config, default=str))


# ------------------------------------------------------------------ the report
def _rows(args, result: dict) -> list[tuple[str, object]]:
    s = result["scores"]
    if args.data == "sines":
        rows: list[tuple[str, object]] = [
            ("discriminative score (lower is better)", f"{s['discriminative']:.4f}"),
            ("predictive score (MAE, train on synthetic, test on real)", f"{s['predictive']:.4f}"),
            ("discriminative score of fresh real sines (floor)", f"{s['discriminative_real_vs_real']:.4f}"),
            ("predictive score trained on fresh real sines", f"{s['predictive_real_on_real']:.4f}"),
            ("TimeGAN published (discriminative / predictive)", "0.011 / 0.093")]
        val = result["history"].get("val_discriminative")
        if val:
            best = int(np.argmin(val))
            rows.append(("kept epoch (--select-every) and its validation discriminative score",
                         f"{best + 1} / {val[best]:.4f}"))
    else:
        rows = [(f"CRPS {k}", f"{v:.4f}") for k, v in s["crps"].items()]
        rows += [(f"spread {k}", f"{v:.4f}") for k, v in s["spread"].items()]
        rows += [(f"discriminative {k}", f"{v:.4f}") for k, v in s["discriminative"].items()]
    rows += [("training CPU seconds (this process)", f"{result['train_cpu_seconds']:.0f}"),
             ("total CPU seconds", f"{result['cpu_seconds']:.0f}"), ("wall seconds", f"{result['wall_seconds']:.0f}")]
    return rows


def run(args) -> int:
    clock = common.Stopwatch()
    out = common.setup(args)
    result = run_sines(args, out, clock) if args.data == "sines" else run_csv(args, out, clock)
    result.update(cpu_seconds=clock.cpu(), wall_seconds=clock())
    report = {"task": NAME, "command": common.command_line(), "config": _saved_config(args), **result,
              "machine": common.machine()}
    title = f"gan on {args.data}" + (f" ({Path(args.csv).name}, {args.target}, halves {args.halves})" if args.csv
                                     and args.data == "csv" else "")
    layers, repeats = args.score_layers or SINES_SCORE_LAYERS, args.score_repeats or SINES_SCORE_REPEATS
    notes = (f"Sines: TimeGAN's scores (post-hoc GRU classifier of {layers} layer(s) / predictor), "
             f"each the mean of {repeats} trained from seeds {args.seed}, {args.seed + 1}, ..."
             if args.data == "sines" else
             "CSV: standardized values relative to the last given value; CRPS over every scored test window.")
    common.write_report(out, report, title, _rows(args, result), notes=notes)
    common.progress(args, f"done in {result['wall_seconds']:.0f} s; report in {out / 'report.md'}")
    return 0


# ------------------------------------------------------------------ seqlayers predict
def predict(out_dir, config, input_path, args) -> int:
    """``--samples`` sampled continuations of the last ``T1`` rows of a CSV with the target column.

    Writes a CSV: ``step`` (1..T2) and ``sample_1`` .. ``sample_N`` in the units of the file.
    """
    if config.get("data") != "csv":
        raise ValueError(f"{out_dir}: this GAN was trained on {config.get('data')} without a condition; "
                         f"`seqlayers predict` samples continuations of a series, so train with --data csv.")
    T1, T2 = _ints(config["halves"], 2, "halves")
    _, values = read_numeric_csv(input_path, columns=[config["target"]])
    if len(values) < T1:
        raise ValueError(f"{input_path}: {len(values)} rows of {config['target']}; the generator reads the last "
                         f"{T1}. Give a file with at least {T1} rows.")
    scaler = StandardScaler().load_state_dict(config["scaler"])
    x = scaler.transform(values[-T1:])[None].astype(np.float32)  # (1, T1, 1)
    last = x[:, -1:, :]
    gen = conditional_generator(T1, T2, 1, int(config["noise_dim"]), int(config["units"]), config["cell"],
                                config["form"])
    common.load_weights(out_dir, gen)
    gan = SequenceGAN(gen, sequence_discriminator(T1 + T2, 1, 1), noise_dim=int(config["noise_dim"]),
                      static_noise=bool(config.get("static_noise", False)))
    torch.manual_seed(getattr(args, "seed", 0) or 0)
    n = int(getattr(args, "samples", None) or config.get("samples", 50))
    z = (gan.sample(x - last, n) + last[None])[:, 0]  # (n, T2, 1) standardized
    v = scaler.inverse_transform(z)[:, :, 0]  # (n, T2) in the file's units
    rows = [",".join(["step"] + [f"sample_{k + 1}" for k in range(n)])]
    rows += [",".join([str(t + 1)] + [f"{v[k, t]:.6g}" for k in range(n)]) for t in range(T2)]
    return common.write_output("\n".join(rows) + "\n", args)
