"""The six benchmark workloads: sizes, data and loss, shared by every implementation.

This module imports numpy only (no torch, no Keras), so the Keras subprocesses running the JAX or
TensorFlow backend in the separate benchmark venv can import it too. Every implementation builds
the same network from a ``Workload`` and trains on the same arrays from ``make_batch``.

    W1 echo/regression   x (B, T, F) float  -> LSTM(H, seq) -> TimeDistributed(Dense(1)), MSE
    W2 tagging           ids (B, T)         -> Embedding(V, D) -> Bidirectional(LSTM(H, seq))
                                               -> TimeDistributed(Dense(C, softmax)), sparse CE
    W3 seq2seq           one-hot (B, T, F)  -> LSTM(H) -> RepeatVector(T_out) -> LSTM(H, seq)
                                               -> TimeDistributed(Dense(F, softmax)), sparse CE
    W4 long series       x (B, T, 1)        -> SimpleRNN(H, seq) -> TimeDistributed(Dense(1)), MSE
    W5 masked tagging    W2 with Embedding(mask_zero=True), lengths uniform in [12, T], right-padded
    W6 GRU               W1 with GRU(H)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Workload:
    """One benchmark problem. ``cell`` is "lstm", "gru" or "rnn"; ``kind`` picks the network shape."""

    name: str
    title: str
    kind: str  # "regression" (W1, W4, W6), "tagging" (W2, W5) or "seq2seq" (W3)
    cell: str
    batch: int  # B
    time: int  # T
    features: int = 0  # F (regression, seq2seq)
    units: int = 128  # H
    vocab: int = 0  # V (tagging)
    embed_dim: int = 0  # D (tagging)
    classes: int = 0  # C (tagging)
    out_steps: int = 0  # T_out (seq2seq)
    masked: bool = False  # W5: Embedding(mask_zero=True), variable lengths
    min_length: int = 0  # W5: lengths uniform in [min_length, T]

    @property
    def loss(self) -> str:
        return "mse" if self.kind == "regression" else "sparse_categorical_crossentropy"

    def with_size(self, time: int | None = None, batch: int | None = None) -> "Workload":
        """The same workload at another sequence length or batch size (for the scaling study)."""
        return replace(self, time=time or self.time, batch=batch or self.batch)

    def describe(self) -> str:
        return f"{self.name} {self.title}: B={self.batch}, T={self.time}"


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("W1", "echo/regression, LSTM(128)", "regression", "lstm", batch=64, time=100, features=8),
        Workload("W2", "tagging, Embedding + Bidirectional(LSTM(128))", "tagging", "lstm", batch=32, time=50,
                 vocab=10000, embed_dim=100, classes=17),
        Workload("W3", "seq2seq, LSTM(128) -> RepeatVector(4) -> LSTM(128)", "seq2seq", "lstm", batch=128,
                 time=7, features=12, out_steps=4),
        Workload("W4", "long series, SimpleRNN(200)", "regression", "rnn", batch=16, time=700, features=1,
                 units=200),
        Workload("W5", "masked tagging (W2, mask_zero=True, lengths 12..50)", "tagging", "lstm", batch=32,
                 time=50, vocab=10000, embed_dim=100, classes=17, masked=True, min_length=12),
        Workload("W6", "echo/regression, GRU(128)", "regression", "gru", batch=64, time=100, features=8),
    ]
}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}.") from None


def make_batch(w: Workload, seed: int = 0) -> dict:
    """One batch of inputs and targets as numpy arrays.

    Returns ``{"x": ..., "y": ..., "lengths": (B,) int64 or None}``:
      regression: x (B, T, F) float32, y (B, T, 1) float32 (the input echoed with a lag);
      tagging:    x (B, T) int64 ids in [1, V) (0 = padding after ``lengths`` for W5), y (B, T) int64;
      seq2seq:    x (B, T, F) one-hot float32, y (B, T_out) int64 class ids.
    """
    rng = np.random.default_rng(seed)
    B, T = w.batch, w.time
    if w.kind == "regression":
        x = rng.standard_normal((B, T, w.features)).astype(np.float32)
        y = np.roll(x[..., :1], 3, axis=1).astype(np.float32)  # echo the first feature 3 steps later
        return {"x": x, "y": y, "lengths": None}
    if w.kind == "tagging":
        x = rng.integers(1, w.vocab, size=(B, T), dtype=np.int64)
        y = rng.integers(0, w.classes, size=(B, T), dtype=np.int64)
        lengths = None
        if w.masked:
            lo = min(w.min_length, T)
            lengths = rng.integers(lo, T + 1, size=B, dtype=np.int64)
            lengths[0] = T  # the longest sequence fills the batch, as a padded batch does
            pad = np.arange(T)[None, :] >= lengths[:, None]  # (B, T) True on padding
            x[pad] = 0
            y[pad] = 0
        return {"x": x, "y": y, "lengths": lengths}
    if w.kind == "seq2seq":
        ids = rng.integers(0, w.features, size=(B, T))
        x = np.eye(w.features, dtype=np.float32)[ids]  # (B, T) -> (B, T, F) one-hot
        y = ids[:, : w.out_steps].astype(np.int64)  # predict the first T_out symbols back
        return {"x": x, "y": y, "lengths": None}
    raise ValueError(f"unknown workload kind {w.kind!r}")


__all__ = ["WORKLOADS", "Workload", "get_workload", "make_batch"]
