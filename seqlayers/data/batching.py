"""Batches of similar-length samples, each padded only to its own longest sample (the tasks' loaders).

``bucketed_loader`` gives a ``torch.utils.data.DataLoader`` that ``fit`` takes directly; ``BucketSampler``
chooses the batches; ``pad_stack`` pads a batch's arrays with 0 on every axis.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def pad_stack(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack arrays of different sizes, padding every axis with 0 to the batch's largest size."""
    shape = tuple(max(a.shape[d] for a in arrays) for d in range(arrays[0].ndim))
    out = np.zeros((len(arrays),) + shape, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[(i,) + tuple(slice(0, s) for s in a.shape)] = a
    return torch.from_numpy(out)


class BucketSampler(torch.utils.data.Sampler):
    """Batches of indices of similar length; with ``shuffle`` the lengths get noise and the batch
    order is shuffled anew each epoch (from ``seed`` and the epoch number: reproducible)."""

    def __init__(self, lengths, batch_size: int, shuffle: bool, seed: int):
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0

    def __len__(self):
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)  # fit's callbacks set the epoch
        keys = self.lengths + (rng.uniform(0, 2, len(self.lengths)) if self.shuffle else 0)
        order = np.argsort(keys, kind="stable")
        batches = [order[i:i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return iter(batches)


def bucketed_loader(xs: list[list[np.ndarray]], y, batch_size: int, shuffle: bool = False, seed: int = 0,
                    word_dropout: float | np.ndarray = 0.0):
    """A DataLoader of ``((x_1, ..., x_k), y)`` batches, each padded only to its own longest sample.

    Args:
        xs: one list per model input, holding one array per sample (first axis = time, any other
            axes, e.g. ``(T_i, W)`` character ids); padding is 0 (pair with ``mask_zero=True``).
        y: the targets, one array per sample (padded the same way), or a list of such lists for a
            model with several outputs.
        batch_size / shuffle / seed: as for ``fit``; samples of similar length share a batch.
        word_dropout: replace each id of the first input (words) by the unknown id 1 with this
            probability, so the model learns what to do with unseen words (training data only;
            drawn from torch's generator, which ``BackupAndRestore`` restores on resume). An array
            indexed by word id gives each word its own probability (e.g. higher for rare words).
    """
    n = len(xs[0])
    multi_y = isinstance(y, (list, tuple)) and len(y) and isinstance(y[0], (list, tuple))
    ys = list(y) if multi_y else [y]

    per_word = torch.as_tensor(word_dropout, dtype=torch.float32) if np.ndim(word_dropout) else None

    def collate(idx_list):
        idx = idx_list  # the sampler yields batches of indices; the dataset is just range(n)
        x = [pad_stack([inp[i] for i in idx]) for inp in xs]
        if per_word is not None or word_dropout:
            rate = per_word[x[0]] if per_word is not None else word_dropout  # (B, T) or one number
            drop = (torch.rand(x[0].shape) < rate) & (x[0] > 1)  # (B, T): real, known words only
            x[0] = x[0].masked_fill(drop, 1)
        t = [pad_stack([np.asarray(out[i]) for i in idx]) for out in ys]
        return (x if len(x) > 1 else x[0]), (t if multi_y else t[0])

    lengths = [len(a) for a in xs[0]]
    indices: Any = range(n)  # a range is a map-style dataset (len + getitem); torch's stubs ask for Dataset
    return torch.utils.data.DataLoader(indices, batch_sampler=BucketSampler(lengths, batch_size, shuffle, seed),
                                       collate_fn=collate)


__all__ = ["BucketSampler", "bucketed_loader", "pad_stack"]
