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

What a training step receives is assembled here too (``step_data``): the batch on the training
device as Keras's ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (``unpack_x_y_sample_weight``
takes it apart); the padding masks of ragged targets travel on the target tensors (``get_mask(y)``),
and ``class_weight`` has already become per-sample (per-step) weights (``ClassWeights``). Per-output
targets, weights and masks are split by ``targets_list`` and ``combine_masks``.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..layers.base import get_mask, set_mask
from ..utils import flatten, map_structure
from .losses import _expand_like


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


def tensor_and_mask(v, what: str):
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
        pairs = {k: tensor_and_mask(a, f"{what}[{k!r}]") for k, a in v.items()}
        return {k: p[0] for k, p in pairs.items()}, (
            {k: p[1] for k, p in pairs.items()} if any(p[1] is not None for p in pairs.values()) else None)
    if isinstance(v, (list, tuple)) and n_expected is not None and n_expected > 1:
        if len(v) != n_expected:
            raise ValueError(
                f"{what}: the model has {n_expected} {'inputs' if what.startswith('x') else 'outputs'}, so "
                f"{what} must be a list of {n_expected} arrays (or a dict keyed by name); got a list of {len(v)}."
            )
        listed = [tensor_and_mask(a, f"{what}[{i}]") for i, a in enumerate(v)]
        return [p[0] for p in listed], ([p[1] for p in listed] if any(p[1] is not None for p in listed) else None)
    if isinstance(v, (list, tuple)) and len(v) == 1 and is_tensor_like(v[0]) and v[0].ndim >= 1 \
            and not (v[0].ndim == 1 and np.issubdtype(np.asarray(v[0]).dtype, np.integer)):
        v = v[0]  # [x] for a one-input model
    return tensor_and_mask(v, what)


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


def _attach_masks(struct, masks, sel) -> None:
    if masks is None or struct is None:
        return
    masks = map_structure(sel, masks)
    if isinstance(struct, torch.Tensor):
        set_mask(struct, masks)
    else:
        for t, m in zip(flatten(struct), flatten(masks)):
            if m is not None:
                set_mask(t, m)


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
        def sel(t):
            return t[idx] if isinstance(t, torch.Tensor) else t

        x, y = map_structure(sel, self.x), map_structure(sel, self.y)
        _attach_masks(x, self.x_mask, sel)
        _attach_masks(y, self.y_mask, sel)  # padded target steps: masked out of losses and metrics
        y_mask = map_structure(sel, self.y_mask) if self.y_mask is not None else None
        return Batch(x, y, map_structure(sel, self.sample_weight), y_mask)

    def split(self, fraction: float):
        """``(train, validation)`` with the last ``fraction`` of the samples for validation (as Keras)."""
        at = int(math.floor(self.n * (1.0 - fraction)))
        if at == 0 or at == self.n:
            raise ValueError(
                f"fit: validation_split={fraction} of {self.n} samples leaves "
                f"{'no training' if at == 0 else 'no validation'} samples; use more data or another fraction."
            )
        def mk(lo, hi):
            def part(t):
                return t[lo:hi] if isinstance(t, torch.Tensor) else t

            return ArrayData(*(map_structure(part, s) if s is not None else None
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
        self._replay: list = []  # items that a look at the first batch took from a one-shot generator

    def first_batch(self) -> Batch:
        """The first batch, for a look before the loop (building the model); a one-shot generator
        gives it again to the loop, as Keras's adapter does."""
        item = next(iter(self.loader(False)))
        src = self.source  # a generator: what was taken comes back first (a DataLoader is not asked for a
        if not isinstance(src, (Dataset, DataLoader)) and iter(src) is src:  # second iterator, its workers)
            self._replay.insert(0, item)
        return next(self._batches_of([item]))

    def _replayed(self, src):
        while self._replay:
            yield self._replay.pop(0)
        yield from src

    def loader(self, shuffle: bool, generator=None, rank: int = 0, world: int = 1, epoch: int = 0, seed: int = 0):
        src = self.source
        if not isinstance(src, (Dataset, DataLoader)):
            if not hasattr(src, "__iter__"):  # a Keras Sequence-style object: batch i is src[i]
                return _indexed_batches(src)
            # a Python generator / iterable of batches: used as it comes (not sharded, not shuffled)
            return self._replayed(src) if self._replay else src
        if isinstance(src, DataLoader):
            if world == 1 or isinstance(src.sampler, torch.utils.data.DistributedSampler):
                if isinstance(src.sampler, torch.utils.data.DistributedSampler):
                    src.sampler.set_epoch(epoch)
                return src
            dataset, bs, collate = src.dataset, src.batch_size or 1, src.collate_fn
        else:
            dataset, bs, collate = src, self.batch_size or 32, None
        kw: dict[str, Any] = {"collate_fn": collate} if collate is not None else {}
        if world > 1:
            sampler: torch.utils.data.DistributedSampler = torch.utils.data.DistributedSampler(
                dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
            sampler.set_epoch(epoch)
            return DataLoader(dataset, batch_size=bs, sampler=sampler, **kw)
        return DataLoader(dataset, batch_size=bs, shuffle=shuffle, generator=generator if shuffle else None, **kw)

    def num_batches(self, batch_size=None, world: int = 1):
        if not isinstance(self.source, (Dataset, DataLoader)) and hasattr(self.source, "__len__"):
            return len(self.source)  # a Sequence-style object or a TimeseriesDataset: batches per epoch
        try:
            return len(self.loader(False, world=world))
        except TypeError:  # generators have no length
            return None

    def batches(self, batch_size=None, shuffle=False, generator=None, rank=0, world=1, epoch=0, seed=0):
        return self._batches_of(self.loader(shuffle, generator, rank, world, epoch, seed))

    @staticmethod
    def _batches_of(items):
        for item in items:
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


def _indexed_batches(src):
    """Batches ``src[0] .. src[len(src) - 1]``, then ``src.on_epoch_end()`` when it has one (Keras's ``Sequence``)."""
    for i in range(len(src)):
        yield src[i]
    if hasattr(src, "on_epoch_end"):
        src.on_epoch_end()


def _leaf_tensor(v):
    """numpy batches from a generator become tensors (float64 -> float32, as for arrays)."""
    if isinstance(v, np.ndarray) and v.dtype != object:
        return tensor_and_mask(v, "x")[0]
    return v


def is_loader_source(x) -> bool:
    """A Dataset/DataLoader, a generator or other iterable of batches, or a Keras ``Sequence``-style
    object (``__len__`` batches, ``__getitem__(i)`` returning batch ``i``)."""
    return isinstance(x, (Dataset, DataLoader)) or (
        (hasattr(x, "__iter__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__")))
        and not isinstance(x, (list, tuple, dict, np.ndarray, torch.Tensor, str)))


# ---------------------------------------------------------------- what a step receives
def to_device(struct, device):
    """Tensors (and numpy arrays, float64 -> float32) of ``struct`` on ``device``, masks moved with them."""
    if device is None:
        return struct

    def move(t):
        if not isinstance(t, torch.Tensor):
            if isinstance(t, np.ndarray):
                t = torch.from_numpy(np.ascontiguousarray(t))
                if t.dtype == torch.float64:
                    t = t.float()
            else:
                return t
        m = get_mask(t)
        out = t.to(device, non_blocking=True)
        if m is not None and out is not t:
            set_mask(out, m.to(device, non_blocking=True))
        return out

    return map_structure(move, struct)


class ClassWeights:
    """``class_weight={class: weight}`` as per-sample (per-step) weights, for sparse, one-hot or binary
    targets; which kind is read from the model's output (rank and last axis), found once by ``fit``."""

    def __init__(self, class_weight, output: torch.Tensor, who: str = "fit"):
        self.class_weight = class_weight  # checked by arguments.check_class_weight
        self.out_ndim, self.out_last = output.ndim, int(output.shape[-1]) if output.ndim else 1

    def classes(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim == self.out_ndim and y.shape[-1] == self.out_last > 1:
            return y.argmax(-1)  # one-hot targets
        lead = (y.shape[0],) + tuple(y.shape[1:self.out_ndim - 1])
        if self.out_last == 1:
            return y.reshape(lead).round().long()  # binary 0/1 targets
        return y.reshape(lead).long()  # class ids

    def __call__(self, y: torch.Tensor, sample_weight=None) -> torch.Tensor:
        cls = self.classes(y)
        size = max(max(self.class_weight) + 1, int(cls.max()) + 1 if cls.numel() else 1)
        table = torch.ones(size, dtype=torch.float32, device=y.device)
        for k, v in self.class_weight.items():
            table[int(k)] = float(v)
        cw = table[cls]
        if sample_weight is None:
            return cw
        return _expand_like(sample_weight.to(cw.dtype), cw) * cw


def step_data(batch: Batch, device=None, class_weights: ClassWeights | None = None) -> tuple:
    """The batch as a step receives it: ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` on ``device``."""
    x, y, sw = to_device(batch.x, device), to_device(batch.y, device), to_device(batch.sample_weight, device)
    if class_weights is not None and isinstance(y, torch.Tensor):
        sw = class_weights(y, sw)
    if sw is not None:
        return x, y, sw
    return (x,) if y is None else (x, y)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a step's data (Keras's ``unpack_x_y_sample_weight``)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"A step's data must be (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(data)}.")


def targets_list(names: list[str], has_loss: list[bool], y, n: int, what: str = "y") -> list:
    """One entry of ``y`` (targets, or sample weights) per output, from one array, a list or a dict."""
    if y is None:
        return [None] * n
    if isinstance(y, dict):
        missing = [k for k, lossy in zip(names, has_loss) if k not in y and lossy]
        if missing:
            raise ValueError(f"fit: {what} lacks targets for output {missing[0]!r}; give a dict with keys {names}.")
        return [y.get(k) for k in names]
    if isinstance(y, (list, tuple)) and n > 1:
        if len(y) != n:
            raise ValueError(f"fit: the model has {n} outputs ({', '.join(names)}) but {what} is a list of {len(y)}.")
        return list(y)
    if n > 1:
        raise ValueError(f"fit: the model has {n} outputs ({', '.join(names)}); give {what} as a list "
                         f"or a dict with one array per output.")
    return [y]


def combine_masks(output_mask, target_mask):
    """The steps that count: the output's mask and the target's padding mask together (either may be None)."""
    if target_mask is None:
        return output_mask
    target_mask = target_mask.to(torch.bool)
    return target_mask if output_mask is None else (output_mask.to(torch.bool) & target_mask)


# ---------------------------------------------------------------- from fit's arguments
def check_batch_size(batch_size, who: str) -> None:
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}.")


def n_inputs(model) -> int:
    if getattr(model, "_functional", False) and model.inputs:  # (a Sequential's inputs would build its graph)
        return len(model.inputs)
    return 1


def n_outputs(model) -> int:
    if getattr(model, "_functional", False) and model.outputs:
        return len(model.outputs)
    return 1


def make_data(model, x, y, sample_weight, batch_size, who, check=True):
    """ArrayData or LoaderData from user arguments, with the checks that teach."""
    if x is None:
        raise ValueError(f"{who}: x is None; pass the inputs (numpy arrays, tensors, or a Dataset/DataLoader).")
    if is_loader_source(x):
        if y is not None:
            raise ValueError(f"{who}: with a Dataset/DataLoader, the targets come from its items; do not pass y.")
        return LoaderData(x, batch_size)
    xs, xm = to_structure(x, n_inputs(model), "x")
    n_out = len(y) if isinstance(y, dict) else n_outputs(model)
    ys, ym = to_structure(y, n_out, "y")
    sws = None
    if sample_weight is not None:
        per_output = isinstance(sample_weight, dict) or (
            isinstance(sample_weight, (list, tuple)) and n_out > 1 and len(sample_weight) == n_out
            and all(hasattr(w, "__len__") for w in sample_weight))
        sws, _ = to_structure(sample_weight, n_out if per_output else 1, "sample_weight")
        sws = map_structure(lambda t: t.float() if isinstance(t, torch.Tensor) else t, sws)
    data = ArrayData(xs, ys, sws, xm, ym)
    if data.n == 0:
        raise ValueError(f"{who}: x is empty (0 samples); there is nothing to {'train on' if who == 'fit' else who}.")
    if check:
        check_finite(xs, "x")
        check_finite(ys, "y")
        check_finite(sws, "sample_weight")
    return data


def single_batch(model, x, y, sample_weight):
    """``(ArrayData, its one Batch)`` for the ``*_on_batch`` verbs."""
    xs, xm = to_structure(x, n_inputs(model), "x")
    ys, ym = to_structure(y, len(y) if isinstance(y, dict) else n_outputs(model), "y")
    sws = None
    if sample_weight is not None:
        sws, _ = to_structure(sample_weight, 1, "sample_weight")
        sws = map_structure(lambda t: t.float() if isinstance(t, torch.Tensor) else t, sws)
    data = ArrayData(xs, ys, sws, xm, ym)
    return data, data.take(slice(0, data.n))


def validation_source(model, validation_data, validation_split, data, batch_size, validation_batch_size):
    """``(train data, validation data or None)`` from ``validation_data`` / ``validation_split``."""
    if validation_data is not None:
        if is_loader_source(validation_data):
            return data, LoaderData(validation_data, validation_batch_size or batch_size)
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val), "
                             "or a Dataset/DataLoader.")
        return data, make_data(model, validation_data[0], validation_data[1],
                               validation_data[2] if len(validation_data) == 3 else None, batch_size, "fit")
    if validation_split:
        if not isinstance(data, ArrayData):
            raise ValueError("fit: validation_split needs arrays; with a Dataset/DataLoader pass validation_data.")
        return data.split(validation_split)
    return data, None


__all__ = [
    "ArrayData",
    "Batch",
    "ClassWeights",
    "LoaderData",
    "check_batch_size",
    "check_finite",
    "combine_masks",
    "is_loader_source",
    "make_data",
    "pad_ragged",
    "single_batch",
    "step_data",
    "targets_list",
    "to_device",
    "to_structure",
    "unpack_x_y_sample_weight",
    "validation_source",
]
