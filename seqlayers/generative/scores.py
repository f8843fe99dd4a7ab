"""How good are generated series? The measures of Yoon, Jarrett and van der Schaar (TimeGAN, NeurIPS
2019) and a probabilistic score for sampled continuations.

* ``discriminative_score(real, fake)``: a post-hoc recurrent classifier (one GRU layer of ``F // 2``
  units, as TimeGAN's code has it, then one sigmoid unit) is trained to tell real from generated
  series on 80% of each set (2000 Adam updates, batches of 128 + 128) and tested on the other 20%:
  ``|accuracy - 0.5|``; 0 means indistinguishable, 0.5 means always told apart.
* ``predictive_score(real, synthetic)``: train on synthetic, test on real. A GRU (``F // 2`` units,
  5000 updates of 128 series) learns on the synthetic series to predict the next step of the last
  feature from the other features (a univariate series: its own next step from its past); the
  score is its MAE on the real series.

Both scores take ``repeats``: the mean over that many classifiers (predictors) of seeds ``seed``,
``seed + 1``, ..., each with its own split and weights. TimeGAN's ``main_timegan.py`` reports the mean
of 10 (``--metric_iteration``); one classifier of 2 units is noisy (on one set of generated sines,
three seeds gave 0.056, 0.056 and 0.197). Their paper's text speaks of a 2-layer LSTM classifier;
their released code, which the published figures are compared with here, trains one GRU layer.
* ``crps(samples, y)``: the continuous ranked probability score of an ensemble, per value
  ``E|X - y| - 0.5 E|X - X'|`` (X, X' independent draws), averaged over windows, steps and features;
  a single deterministic forecast scores its MAE. Lower is better.
* ``spread(samples)``: the mean standard deviation across samples (a collapsed generator has ~0).
* ``pca_2d(real, fake)``: both sets projected on the first two principal axes of the real windows.
"""
from __future__ import annotations

import math

import numpy as np

from ..layers.core import Dense
from ..layers.rnn import GRU
from ..layers.wrappers import TimeDistributed
from ..models.sequential import Sequential
from ..training.optimizers import Adam
from ..training.seeding import set_seed


def _as_array(name: str, a, ndim: int = 3) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected an array of shape (series, time, features), got {a.shape}.")
    return a


def _epochs_for(iterations: int, n: int, batch_size: int) -> int:
    """Epochs of ``ceil(n / batch_size)`` batches that make at least ``iterations`` updates."""
    return max(1, math.ceil(iterations / max(1, math.ceil(n / batch_size))))


def _classifier(n_steps: int, n_features: int, units: int, n_layers: int) -> Sequential:
    shape = {"input_shape": (n_steps, n_features)}
    layers = [GRU(units, return_sequences=i < n_layers - 1, **(shape if i == 0 else {})) for i in range(n_layers)]
    return Sequential(layers + [Dense(1, activation="sigmoid")], name="post_hoc_classifier")


def _check_repeats(who: str, repeats) -> None:
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"{who}: repeats must be a positive integer (TimeGAN's code averages 10), got {repeats!r}.")


def discriminative_score(real, fake, units: int | None = None, n_layers: int = 1, iterations: int = 2000,
                         batch_size: int = 128, seed: int = 0, repeats: int = 1) -> float:
    """``|accuracy - 0.5|`` of a post-hoc GRU classifier on held-out real and generated series.

    Args:
        real, fake: ``(N, T, F)`` arrays (the two sets may differ in size).
        units: GRU units (default ``max(1, F // 2)``, TimeGAN's).
        n_layers: stacked GRU layers (default 1, TimeGAN's code).
        iterations: Adam updates; ``batch_size``: real (and as many fake) series per update.
        seed: seeds the split, the weights and the shuffling (repetition ``k`` uses ``seed + k``).
        repeats: classifiers trained and tested; the score is the mean of theirs (TimeGAN's: 10).
    """
    real, fake = _as_array("discriminative_score", real), _as_array("discriminative_score", fake)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"discriminative_score: real series are {real.shape[1:]} (time, features) but fake ones "
                         f"are {fake.shape[1:]}; compare series of the same length and features.")
    _check_repeats("discriminative_score", repeats)
    if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 1:
        raise ValueError(f"discriminative_score: n_layers must be a positive integer (TimeGAN's code uses 1 GRU "
                         f"layer), got {n_layers!r}.")
    return float(np.mean([_discriminative_once(real, fake, units, n_layers, iterations, batch_size, seed + k)
                          for k in range(repeats)]))


def _discriminative_once(real: np.ndarray, fake: np.ndarray, units: int | None, n_layers: int, iterations: int,
                         batch_size: int, seed: int) -> float:
    set_seed(seed)
    rng = np.random.default_rng(seed)
    parts = []
    for a in (real, fake):  # 80/20 of each set, as TimeGAN's train_test_divide
        idx = rng.permutation(len(a))
        cut = int(0.8 * len(a))
        parts.append((a[idx[:cut]], a[idx[cut:]]))
    (r_tr, r_te), (f_tr, f_te) = parts
    x_tr = np.concatenate([r_tr, f_tr])
    y_tr = np.concatenate([np.ones(len(r_tr)), np.zeros(len(f_tr))]).astype(np.float32)[:, None]
    model = _classifier(real.shape[1], real.shape[2], units or max(1, real.shape[2] // 2), n_layers)
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="binary_crossentropy")
    model.fit(x_tr, y_tr, batch_size=2 * batch_size, epochs=_epochs_for(iterations, len(x_tr), 2 * batch_size),
              verbose=0, seed=seed)
    p = np.concatenate([model.predict(r_te, batch_size=1024, verbose=0),
                        model.predict(f_te, batch_size=1024, verbose=0)])[:, 0]
    labels = np.concatenate([np.ones(len(r_te)), np.zeros(len(f_te))])
    return float(abs(np.mean((p > 0.5) == labels) - 0.5))


def next_step_pairs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TimeGAN's predictive task: inputs ``a[:, :-1, :F-1]``, targets ``a[:, 1:, F-1:]`` (F > 1), or
    ``a[:, :-1]`` -> ``a[:, 1:]`` for a univariate series."""
    if a.shape[2] == 1:
        return a[:, :-1], a[:, 1:]
    return a[:, :-1, :-1], a[:, 1:, -1:]


def predictive_score(real, synthetic, units: int | None = None, iterations: int = 5000, batch_size: int = 128,
                     output_activation="sigmoid", seed: int = 0, repeats: int = 1) -> float:
    """Train-on-synthetic, test-on-real MAE of a next-step GRU predictor (see the module docstring).

    Args:
        real, synthetic: ``(N, T, F)`` arrays.
        units: GRU units (default ``max(1, F // 2)``, TimeGAN's).
        iterations: Adam updates on batches of ``batch_size`` synthetic series.
        output_activation: of the prediction (``"sigmoid"``, TimeGAN's, for data in [0, 1]; None otherwise).
        seed: seeds the weights and the shuffling (repetition ``k`` uses ``seed + k``).
        repeats: predictors trained and tested; the score is the mean of theirs (TimeGAN's: 10).
    """
    real, synthetic = _as_array("predictive_score", real), _as_array("predictive_score", synthetic)
    _check_repeats("predictive_score", repeats)
    return float(np.mean([_predictive_once(real, synthetic, units, iterations, batch_size, output_activation,
                                           seed + k) for k in range(repeats)]))


def _predictive_once(real: np.ndarray, synthetic: np.ndarray, units: int | None, iterations: int, batch_size: int,
                     output_activation, seed: int) -> float:
    set_seed(seed)
    x_s, y_s = next_step_pairs(synthetic)
    x_r, y_r = next_step_pairs(real)
    model = Sequential([GRU(units or max(1, real.shape[2] // 2), return_sequences=True,
                            input_shape=(x_s.shape[1], x_s.shape[2])),
                        TimeDistributed(Dense(y_s.shape[2], activation=output_activation))], name="post_hoc_predictor")
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="mae")
    model.fit(x_s, y_s, batch_size=batch_size, epochs=_epochs_for(iterations, len(x_s), batch_size), verbose=0,
              seed=seed)
    p = model.predict(x_r, batch_size=1024, verbose=0)
    return float(np.mean(np.abs(p - y_r)))


def crps(samples, y) -> float:
    """The sample CRPS ``E|X - y| - 0.5 E|X - X'|`` of an ensemble, averaged over every value.

    Shape:
        samples ``(S, N, ...)`` (S draws per window), y ``(N, ...)``.
    """
    s = np.asarray(samples, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if s.shape[1:] != y.shape:
        raise ValueError(f"crps: samples must be (draws, *y.shape) = (S, {', '.join(map(str, y.shape))}), "
                         f"got {s.shape}.")
    S = s.shape[0]
    skill = np.abs(s - y[None]).mean(axis=0)
    s_sorted = np.sort(s, axis=0)  # E|X - X'| = 2 / S^2 * sum_i (2i - S - 1) x_(i), i = 1..S
    w = (2 * np.arange(1, S + 1) - S - 1).reshape((S,) + (1,) * y.ndim)
    pair = 2.0 / S ** 2 * (w * s_sorted).sum(axis=0)
    return float(np.mean(skill - 0.5 * pair))


def spread(samples) -> float:
    """Mean standard deviation across the draws (axis 0): ~0 when the generator ignores its noise."""
    return float(np.asarray(samples, dtype=np.float64).std(axis=0).mean())


def pca_2d(real, fake) -> tuple[np.ndarray, np.ndarray]:
    """``(N, T, F)`` windows flattened and projected on the two leading principal axes of ``real``."""
    r = np.asarray(real, dtype=np.float64).reshape(len(real), -1)  # (N, T * F)
    f = np.asarray(fake, dtype=np.float64).reshape(len(fake), -1)
    mean = r.mean(axis=0)
    _, _, vt = np.linalg.svd(r - mean, full_matrices=False)
    axes = vt[:2].T  # (T * F, 2)
    return (r - mean) @ axes, (f - mean) @ axes


__all__ = ["crps", "discriminative_score", "next_step_pairs", "pca_2d", "predictive_score", "spread"]
