"""Small example series shipped inside the package (no download at run time).

    years, spots = sunspots()             # (309,), (309,) yearly sunspot numbers 1700-2008
    ex = sunspots_example(lookback=20)    # standardized train/test windows, ready for fit()

Source and license of each file: ``seqlayers/data/samples/README.md``.
"""
from __future__ import annotations

import os

import numpy as np

from .csv_reader import read_numeric_csv
from .scaling import StandardScaler
from .windows import windows

SAMPLES = os.path.join(os.path.dirname(__file__), "samples")


def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers 1700-2008 (NOAA NGDC, public domain): ``(years, values)``."""
    _, data = read_numeric_csv(os.path.join(SAMPLES, "sunspots.csv"), columns=["YEAR", "SUNACTIVITY"],
                               dtype=np.float64)
    return data[:, 0].astype(int), data[:, 1].astype(np.float32)


def sunspots_example(lookback: int = 20, horizon: int = 1, train_fraction: float = 0.8) -> dict:
    """Sunspots cut into windows: the first ``train_fraction`` of years for training, the rest for test.

    The scaler is fit on the training years only; the test split starts ``lookback`` years early so
    its first window predicts the first test year. Returns a dict with ``x_train (N, L, 1)``,
    ``y_train (N, H)``, ``x_test``, ``y_test`` and the fitted ``scaler``.
    """
    _, values = sunspots()
    series = values[:, None]  # (T, 1)
    n_train = int(len(series) * train_fraction)
    scaler = StandardScaler().fit(series[:n_train])
    z = scaler.transform(series)
    x_train, y_train = windows(z[:n_train], lookback, horizon, targets=0)
    x_test, y_test = windows(z[n_train - lookback:], lookback, horizon, targets=0)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, "scaler": scaler}
