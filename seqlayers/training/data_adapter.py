"""Turn what users pass to ``fit``/``evaluate``/``predict`` into batches of tensors.

Accepted ``x`` / ``y`` / ``sample_weight``:

* numpy arrays or torch tensors (float64 becomes float32, integers int64, as Keras casts to floatx);
* lists (in the order of the model's inputs/outputs) or dicts (keyed by input/output name) of them;
* Python lists of variable-length sequences, e.g. ``[[3, 8, 1], [4, 2]]`` (token ids) or a list
  of ``(T_i, F)`` arrays: they are right-padded with 0 to the longest sequence and a mask of the
  real steps is attached to each batch (integer ids: pad id 0, so use ``Embedding(mask_zero=True)``
  to mask them; float steps: the mask travels on the input tensor). Padded *targets* are masked
  out of the losses and metrics;
* a ``torch.utils.data.Dataset`` (items ``(x, y)`` or ``(x, y, sample_weight)``) or ``DataLoader``;
* a Python generator (or other iterable) of such batches, as Keras's ``fit_generator`` took; with
  ``steps_per_epoch`` an endless generator continues where the previous epoch stopped.

``validation_split`` takes the *last* fraction of the samples, before any shuffling (as Keras).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..layers.base import set_mask
from ..utils import flatten, map_structure


@dataclass
class Batch:
    x: Any
    y: Any = None
    sample_weight: Any = None
    y_mask: Any = None  # padding masks of targets given as ragged lists (same nest as y), or None


# ---------------------------------------------------------------- conversion
def is_tensor_like(v) -> bool:
    return isinstance(v, (np.ndarray, torch.Tensor))


def _is_sequence(v) -> bool:
    return isinstance(v, (list, tuple)) or (is_tensor_like(v) and v.ndim >= 1)


def pad_ragged(seqs, what: str = "x"):
    """Right-pad a list of variable-length sequences with 0: returns ``(padded (B, T, ...), mask (B, T))``
    (for ragged ``x``/``y`` given to ``fit``; Keras's array-returning ``pad_sequences`` is ``seqlayers.utils``'s)."""
    arrays = [np.asarray(s) for s in seqs]
    for a in arrays:
        _check_numeric(a, what)
    if any(a.ndim == 0 for a in arrays):
        raise ValueError(f"{what}: mixes scalars and sequences; give every sample as a sequence of steps.")
    tail = {a.shape[1:] for a in arrays}
    if len(tail) > 1:
        raise ValueError(
            f"{what}: the steps of the sequences have different shapes {sorted(tail)}; every step of every "
            f"sequence needs the same number of features."
        )
    ints = all(np.issubdtype(a.dtype, np.integer) or a.size == 0 for a in arrays) and \
        any(np.issubdtype(a.dtype, np.integer) for a in arrays)
    dtype = np.int64 if ints else np.float32
    T = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), T) + tail.pop(), dtype=dtype)
    mask = np.zeros((len(arrays), T), dtype=bool)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
        mask[i, : len(a)] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


def _check_numeric(arr: np.ndarray, what: str) -> None:
    """Strings, objects and complex numbers are not data a model trains on: say what to do instead."""
    if arr.dtype.kind in "USO":
        sample = next(iter(arr.reshape(-1)), None)
        fix = ("map the labels to class ids first, e.g. classes, ids = np.unique(y, return_inverse=True)"
               if what.startswith("y") else "give one number per sample (or per step)" if "weight" in what
               else "turn the tokens into ids first (e.g. seqlayers.data.Vocab)")
        raise TypeError(f"{what}: expected numbers, got an array of {arr.dtype.name} values (e.g. {sample!r:.40}); "
                        f"{fix}.")
    if arr.dtype.kind == "c":
        raise TypeError(f"{what}: expected real numbers, got {arr.dtype.name}; seqlayers layers take real "
                        f"tensors: pass x.real and x.imag as two features (np.stack([x.real, x.imag], -1)).")


def to_tensor(v, what: str):
    """One array-like to ``(tensor, padding mask or None)``."""
    if isinstance(v, np.ndarray) and v.dtype != object:
        _check_numeric(v, what)
    if isinstance(v, torch.Tensor):
        if v.is_complex():
            _check_numeric(np.zeros(0, dtype=np.complex64), what)
        t = v
    elif isinstance(v, np.ndarray) and v.dtype != object:
        t = torch.from_numpy(np.ascontiguousarray(v))
    elif isinstance(v, (list, tuple, np.ndarray)):
        if len(v) and all(_is_sequence(s) for s in v):
            lengths = {len(s) for s in v}
            if len(lengths) > 1:
                return pad_ragged(v, what)
        try:
            arr = np.asarray(v)
        except ValueError:
            return pad_ragged(v, what)
        if arr.dtype == object:
            return pad_ragged(v, what)
        _check_numeric(arr, what)
        t = torch.from_numpy(np.ascontiguousarray(arr))
    elif isinstance(v, (int, float)):
        raise ValueError(f"{what}: expected an array of samples, got the single number {v!r}.")
    else:
        raise TypeError(
            f"{what}: expected numpy arrays, torch tensors, lists of sequences, or a torch Dataset/DataLoader; "
            f"got {type(v).__name__}."
        )
    if t.dtype == torch.float64:
        t = t.float()
    elif t.dtype in (torch.int32, torch.int16, torch.int8, torch.uint8):
        t = t.long()
    return t, None


def to_structure(v, n_expected: int | None, what: str):
    """Convert ``v`` (one array, a list of arrays per input/output, or a dict) to tensors + padding masks."""
    if v is None:
        return None, None
    if isinstance(v, dict):
        pairs = {k: to_tensor(a, f"{what}[{k!r}]") for k, a in v.items()}
        return {k: p[0] for k, p in pairs.items()}, (
            {k: p[1] for k, p in pairs.items()} if any(p[1] is not None for p in pairs.values()) else None)
    if isinstance(v, (list, tuple)) and n_expected is not None and n_expected > 1:
        if len(v) != n_expected:
            raise ValueError(
                f"{what}: the model has {n_expected} {'inputs' if what.startswith('x') else 'outputs'}, so "
                f"{what} must be a list of {n_expected} arrays (or a dict keyed by name); got a list of {len(v)}."
            )
        pairs = [to_tensor(a, f"{what}[{i}]") for i, a in enumerate(v)]
        return [p[0] for p in pairs], ([p[1] for p in pairs] if any(p[1] is not None for p in pairs) else None)
    if isinstance(v, (list, tuple)) and len(v) == 1 and is_tensor_like(v[0]) and v[0].ndim >= 1 \
            and not (v[0].ndim == 1 and np.issubdtype(np.asarray(v[0]).dtype, np.integer)):
        v = v[0]  # [x] for a one-input model
    return to_tensor(v, what)


def num_samples(struct) -> int:
    leaves = [t for t in flatten(struct) if isinstance(t, torch.Tensor)]
    return int(leaves[0].shape[0]) if leaves else 0


def _named_leaves(struct, what):
    if isinstance(struct, torch.Tensor):
        return [(what, struct)]
    if isinstance(struct, dict):
        return [(f"{what}[{k!r}]", t) for k, t in struct.items() if isinstance(t, torch.Tensor)]
    if isinstance(struct, (list, tuple)):
        return [(f"{what}[{i}]", t) for i, t in enumerate(struct) if isinstance(t, torch.Tensor)]
    return []


def check_finite(struct, what: str, offset: int = 0, batch: int | None = None) -> None:
    """Raise a ValueError naming the array and the first position holding NaN or inf."""
    for name, t in _named_leaves(struct, what):
        if not t.is_floating_point():
            continue
        finite = torch.isfinite(t)
        if bool(finite.all()):
            continue
        local = tuple(int(i) for i in (~finite).nonzero()[0])
        kind = "NaN" if math.isnan(float(t[local])) else "inf"
        pos = (local[0] + offset,) + local[1:]
        where = f"at index {pos} (sample {pos[0]})" if batch is None else f"in batch {batch} at index {pos}"
        raise ValueError(
            f"fit: {name} contains {kind} {where}. Training on it would make the "
            f"weights NaN; clean or impute the data first (e.g. np.nan_to_num, or drop those samples)."
        )


def check_lengths(**structs) -> int:
    """All arrays share the sample axis; returns the number of samples."""
    sizes = []
    for what, s in structs.items():
        for name, t in _named_leaves(s, what):
            if t.ndim == 0:
                raise ValueError(f"fit: {name} is a scalar; expected an array with one row per sample.")
            sizes.append((name, int(t.shape[0])))
    if not sizes:
        return 0
    n = sizes[0][1]
    bad = [(k, m) for k, m in sizes if m != n]
    if bad:
        listing = ", ".join(f"{k} has {m}" for k, m in sizes)
        raise ValueError(f"fit: the arrays must have the same number of samples (first axis): {listing}. "
                         f"Check that x and y were built from the same examples.")
    return n


# ---------------------------------------------------------------- in-memory data
class ArrayData:
    """Tensors in memory, sliced into batches by index."""

    def __init__(self, x, y=None, sample_weight=None, x_mask=None, y_mask=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.x_mask, self.y_mask = x_mask, y_mask
        self.n = check_lengths(x=x, y=y, sample_weight=sample_weight)

    def __len__(self):
        return self.n

    def take(self, idx) -> Batch:
        sel = lambda t: t[idx] if isinstance(t, torch.Tensor) else t  # noqa: E731
        x = map_structure(sel, self.x)
        if self.x_mask is not None:
            xm = map_structure(sel, self.x_mask)
            if isinstance(x, torch.Tensor):
                set_mask(x, xm)
            else:
                for t, m in zip(flatten(x), flatten(xm)):
                    set_mask(t, m)
        y_mask = map_structure(sel, self.y_mask) if self.y_mask is not None else None
        return Batch(x, map_structure(sel, self.y), map_structure(sel, self.sample_weight), y_mask)

    def split(self, fraction: float):
        """``(train, validation)`` with the last ``fraction`` of the samples for validation (as Keras)."""
        at = int(math.floor(self.n * (1.0 - fraction)))
        if at == 0 or at == self.n:
            raise ValueError(
                f"fit: validation_split={fraction} of {self.n} samples leaves "
                f"{'no training' if at == 0 else 'no validation'} samples; use more data or another fraction."
            )
        part = lambda lo, hi: (lambda t: t[lo:hi] if isinstance(t, torch.Tensor) else t)  # noqa: E731
        mk = lambda lo, hi: ArrayData(  # noqa: E731
            *(map_structure(part(lo, hi), s) if s is not None else None
              for s in (self.x, self.y, self.sample_weight, self.x_mask, self.y_mask)))
        return mk(0, at), mk(at, self.n)

    def num_batches(self, batch_size: int, world: int = 1) -> int:
        per_rank = math.ceil(self.n / world)
        return math.ceil(per_rank / batch_size)

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                rank: int = 0, world: int = 1, epoch: int = 0, seed: int = 0) -> Iterator[Batch]:
        """Batches of one epoch. Under ``torchrun`` every process takes every ``world``-th index of a
        common order (``DistributedSampler``'s rule), so the union of the processes' k-th batches is
        the k-th batch of one process with ``world * batch_size``."""
        if world > 1:
            if shuffle:
                g = torch.Generator()
                g.manual_seed(seed + epoch)
                order = torch.randperm(self.n, generator=g)
            else:
                order = torch.arange(self.n)
            total = math.ceil(self.n / world) * world
            if total > self.n:  # pad by repeating the first indices, as DistributedSampler
                order = torch.cat([order, order[: total - self.n]])
            order = order[rank:total:world]
        elif shuffle:
            order = torch.randperm(self.n, generator=generator)
        else:
            order = None
        n = self.n if order is None else len(order)
        for start in range(0, n, batch_size):
            idx = slice(start, min(start + batch_size, n)) if order is None else order[start:start + batch_size]
            yield self.take(idx)


# ---------------------------------------------------------------- Dataset / DataLoader
class LoaderData:
    """A torch ``Dataset`` or ``DataLoader``; items are ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""

    def __init__(self, source, batch_size: int | None):
        self.source = source
        self.batch_size = batch_size

    def loader(self, shuffle: bool, generator=None, rank: int = 0, world: int = 1, epoch: int = 0, seed: int = 0):
        src = self.source
        if not isinstance(src, (Dataset, DataLoader)):
            return src  # a Python generator / iterable of batches: used as it comes (not sharded, not shuffled)
        if isinstance(src, DataLoader):
            if world == 1 or isinstance(src.sampler, torch.utils.data.DistributedSampler):
                if isinstance(src.sampler, torch.utils.data.DistributedSampler):
                    src.sampler.set_epoch(epoch)
                return src
            dataset, bs, collate = src.dataset, src.batch_size or 1, src.collate_fn
        else:
            dataset, bs, collate = src, self.batch_size or 32, None
        kw = {"collate_fn": collate} if collate is not None else {}
        if world > 1:
            sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank,
                                                          shuffle=shuffle, seed=seed)
            sampler.set_epoch(epoch)
            return DataLoader(dataset, batch_size=bs, sampler=sampler, **kw)
        return DataLoader(dataset, batch_size=bs, shuffle=shuffle, generator=generator if shuffle else None, **kw)

    def num_batches(self, batch_size=None, world: int = 1):
        try:
            return len(self.loader(False, world=world))
        except TypeError:  # generators have no length
            return None

    def batches(self, batch_size=None, shuffle=False, generator=None, rank=0, world=1, epoch=0, seed=0):
        for item in self.loader(shuffle, generator, rank, world, epoch, seed):
            item = map_structure(_leaf_tensor, item)
            if isinstance(item, (list, tuple)) and not isinstance(item, torch.Tensor):
                if len(item) == 1:
                    yield Batch(item[0])
                elif len(item) == 2:
                    yield Batch(item[0], item[1])
                elif len(item) == 3:
                    yield Batch(item[0], item[1], item[2])
                else:
                    raise ValueError(
                        f"fit: a Dataset item must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(item)}. "
                        f"Group several inputs as ((x1, x2), y)."
                    )
            elif isinstance(item, dict) and "x" in item:
                yield Batch(item["x"], item.get("y"), item.get("sample_weight"))
            else:
                yield Batch(item)


def _leaf_tensor(v):
    """numpy batches from a generator become tensors (float64 -> float32, as for arrays)."""
    if isinstance(v, np.ndarray) and v.dtype != object:
        return to_tensor(v, "x")[0]
    return v


def is_loader_source(x) -> bool:
    return isinstance(x, (Dataset, DataLoader)) or (
        hasattr(x, "__iter__") and not isinstance(x, (list, tuple, dict, np.ndarray, torch.Tensor, str)))


__all__ = ["Batch", "ArrayData", "LoaderData", "pad_ragged", "to_structure", "check_finite", "is_loader_source"]
