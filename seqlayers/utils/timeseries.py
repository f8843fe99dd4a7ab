"""Keras's ``timeseries_dataset_from_array``: sliding windows over an array, in batches ``fit`` takes."""
from __future__ import annotations

import math

import numpy as np


class TimeseriesDataset:
    """Batches of windows ``(x (B, T, F), y)`` over an array; iterate it (every epoch anew), ``len()``
    gives the number of batches. ``fit``/``evaluate``/``predict`` take it as ``x`` (or as
    ``validation_data``), as Keras takes the ``tf.data.Dataset`` it returns.

    Window ``k`` starts at ``p_k = start_index + k * sequence_stride`` and holds
    ``data[p_k : p_k + sequence_length * sampling_rate : sampling_rate]``; its target is ``targets[p_k]``.
    """

    def __init__(self, data, targets, starts: np.ndarray, sequence_length: int, sampling_rate: int,
                 batch_size: int | None):
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(0, sequence_length * sampling_rate, sampling_rate)
        self.batch_size = batch_size

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.starts)
        return math.ceil(len(self.starts) / self.batch_size)

    def __iter__(self):
        step = self.batch_size or 1
        for lo in range(0, len(self.starts), step):
            starts = self.starts[lo:lo + step]
            x = self.data[starts[:, None] + self.offsets]            # (B, T, F): one gather for the batch
            y = None if self.targets is None else self.targets[starts]
            if self.batch_size is None:
                x, y = x[0], (None if y is None else y[0])
            yield x if y is None else (x, y)


def _positive(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"timeseries_dataset_from_array: {name} must be a positive integer, got {v!r}.")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Sliding windows over ``data`` as Keras makes them (same windows, same targets, same batches).

    Args:
        data: ``(N, F)`` (or ``(N,)``) array of time steps.
        targets: ``targets[p]`` is the target of the window starting at step ``p``; None: windows only.
        sequence_length: steps per window ``T``.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: keep every ``sampling_rate``-th step inside a window.
        batch_size: windows per batch (None: single windows).
        shuffle, seed: shuffle the window order once, with numpy's ``RandomState(seed)`` (as Keras
            does before its own per-iteration buffer shuffle, which is not reproduced here).
        start_index, end_index: use only ``data[start_index:end_index]``.

    Returns a ``TimeseriesDataset`` (an iterable of ``(x, y)`` numpy batches with a length).
    """
    for name, v in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                    ("sampling_rate", sampling_rate)):
        _positive(name, v)
    if batch_size is not None:
        _positive("batch_size", batch_size)
    data = np.asarray(data)
    start_index = 0 if start_index is None else int(start_index)
    end_index = len(data) if end_index is None else int(end_index)
    if not 0 <= start_index < max(len(data), 1) or not start_index < end_index <= len(data):
        raise ValueError(f"timeseries_dataset_from_array: need 0 <= start_index < end_index <= len(data) = "
                         f"{len(data)}, got start_index={start_index}, end_index={end_index}.")
    num = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        if len(targets) != len(data):
            raise ValueError(f"timeseries_dataset_from_array: data and targets must have the same length, got "
                             f"{len(data)} and {len(targets)}.")
        num = min(num, len(targets))
    starts = np.arange(0, max(num, 0), sequence_stride)
    if shuffle:
        rng = np.random.RandomState(np.random.randint(1e6) if seed is None else seed)
        rng.shuffle(starts)
    return TimeseriesDataset(data, targets, starts + start_index, sequence_length, sampling_rate, batch_size)


__all__ = ["TimeseriesDataset", "timeseries_dataset_from_array"]
