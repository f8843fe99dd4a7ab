"""Standardization fit on training rows only, applied to every split (the leak-free protocol).

    scaler = StandardScaler().fit(series[:n_train])     # statistics of the training rows
    z = scaler.transform(series)                         # applied to train, val and test alike

Same arithmetic as scikit-learn's ``StandardScaler`` (population standard deviation, ddof=0; a
constant column is left unscaled instead of divided by zero).
"""
from __future__ import annotations

import numpy as np


class StandardScaler:
    """Per-feature ``(x - mean) / std`` with statistics from ``fit`` only.

    Shape:
        fit / transform / inverse_transform take ``(T, F)`` (or ``(..., F)``); ``mean_`` and
        ``scale_`` are ``(F,)``.
    """

    def __init__(self):
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, rows) -> "StandardScaler":
        rows = _as_array(rows)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"StandardScaler.fit: expected training rows of shape (time, features) with at "
                             f"least one row, got {rows.shape}.")
        self.mean_ = rows.mean(axis=0)
        std = rows.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0).astype(rows.dtype)
        return self

    def _check(self, x: np.ndarray, verb: str) -> None:
        if self.mean_ is None:
            raise ValueError(f"StandardScaler.{verb}: call fit(train_rows) first.")
        if x.shape[-1] != self.mean_.shape[0]:
            raise ValueError(f"StandardScaler.{verb}: fitted on {self.mean_.shape[0]} features, got an array "
                             f"whose last axis has {x.shape[-1]}.")

    def transform(self, x) -> np.ndarray:
        x = _as_array(x)
        self._check(x, "transform")
        return ((x - self.mean_) / self.scale_).astype(x.dtype)

    def inverse_transform(self, z) -> np.ndarray:
        z = _as_array(z)
        self._check(z, "inverse_transform")
        return (z * self.scale_ + self.mean_).astype(z.dtype)

    def fit_transform(self, rows) -> np.ndarray:
        return self.fit(rows).transform(rows)

    def state_dict(self) -> dict:
        if self.mean_ is None or self.scale_ is None:
            raise ValueError("StandardScaler.state_dict: the scaler is not fitted; call fit(rows) first.")
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    def load_state_dict(self, state: dict) -> "StandardScaler":
        """The statistics that ``state_dict()`` returned (e.g. read back from a run's ``task.json``)."""
        self.mean_ = np.asarray(state["mean"], dtype=np.float32)
        self.scale_ = np.asarray(state["scale"], dtype=np.float32)
        return self


def _as_array(x) -> np.ndarray:
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x
