"""Long runs do not grow memory: 200 epochs of fit keep no history tensors, graphs or batches alive.

Measured at epoch 20 (after warm-up: first-call caches, allocator pools) and at the last epoch:
* live torch tensors found by ``gc``: the count must not grow at all;
* gc-tracked Python objects: growth below 300 over 180 epochs (a leak of one object per step or
  per epoch would add 360+; ``history`` adds only floats, which gc does not track);
* resident memory (``/proc/self/statm``): growth below 32 MiB (loose: a shared machine is noisy;
  a leaked autograd graph per epoch would exceed it);
* ``history.history`` holds Python floats, not tensors (a tensor with a graph would keep every
  epoch's autograd graph alive).
"""
from __future__ import annotations

import gc
import os

import numpy as np
import torch

from seqlayers import LSTM, Dense, Embedding, Sequential, TimeDistributed
from seqlayers.training.callbacks import Callback

EPOCHS = 200
FIRST = 20


def live_tensors() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: RSS is not checked
        return 0


class Measure(Callback):
    def __init__(self):
        super().__init__()
        self.seen = {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch in (FIRST, EPOCHS - 1):
            tensors = live_tensors()
            self.seen[epoch] = (tensors, len(gc.get_objects()), rss_bytes())


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(10, 6))
    x[:, 4:] = 0  # padding, masked by the Embedding
    y = rng.integers(0, 3, size=(10, 6))
    return x, y


def _model():
    torch.manual_seed(0)
    model = Sequential([Embedding(20, 8, mask_zero=True, input_shape=(6,)), LSTM(8, return_sequences=True),
                        TimeDistributed(Dense(3, activation="softmax"))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_200_epochs_of_fit_keep_no_tensors_or_graphs_alive():
    x, y = _data()
    model = _model()
    m = Measure()
    history = model.fit(x, y, epochs=EPOCHS, batch_size=8, validation_split=0.2, verbose=0, callbacks=[m])
    assert len(history.history["loss"]) == EPOCHS
    for key, values in history.history.items():
        assert all(isinstance(v, float) for v in values), f"history[{key!r}] keeps {type(values[0]).__name__}s"
    (t0, o0, r0), (t1, o1, r1) = m.seen[FIRST], m.seen[EPOCHS - 1]
    assert t1 <= t0, f"{t1 - t0} more live tensors after {EPOCHS - FIRST} more epochs"
    assert o1 - o0 < 300, f"{o1 - o0} more gc-tracked objects after {EPOCHS - FIRST} more epochs"
    assert r1 - r0 < 32 << 20, f"RSS grew by {(r1 - r0) >> 20} MiB over {EPOCHS - FIRST} epochs"


def test_repeated_predict_evaluate_and_calls_keep_no_tensors_alive():
    x, y = _data()
    model = _model()
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    before = live_tensors()
    for _ in range(30):
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
        model(torch.as_tensor(x))
    assert live_tensors() <= before
