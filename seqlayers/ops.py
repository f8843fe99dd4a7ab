"""``keras.ops``'s tensor functions that sequence code uses, with Keras's argument names, on torch tensors.

Each takes tensors, numpy arrays or numbers (converted with ``convert_to_tensor``: float64 becomes
float32, as Keras's floatx) and returns torch tensors, so code written for ``keras.ops`` inside a
custom layer's ``call`` or a ``Lambda`` runs here unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .dtypes import parse_dtype as _parse_dtype


def parse_dtype(dtype) -> torch.dtype:
    return _parse_dtype(dtype, "ops")


def convert_to_tensor(x, dtype=None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
        if x.dtype == torch.float64 and dtype is None:
            x = x.float()
    return x if dtype is None else x.to(parse_dtype(dtype))


def convert_to_numpy(x) -> np.ndarray:
    return convert_to_tensor(x).detach().cpu().numpy()


def _t(x):
    return convert_to_tensor(x)


def _float(x):
    x = _t(x)
    return x if x.is_floating_point() else x.float()


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _reduce(fn, x, axis, keepdims):
    x = _t(x)
    if axis is None:
        out = fn(x)
        return out.reshape((1,) * x.ndim) if keepdims else out
    return fn(x, dim=_axes(axis), keepdim=keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return _reduce(torch.sum, x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return _reduce(torch.mean, _float(x), axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(torch.amax, x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(torch.amin, x, axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(torch.any, _t(x).bool(), axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(torch.all, _t(x).bool(), axis, keepdims)


def argmax(x, axis=None, keepdims=False):
    return torch.argmax(_t(x), dim=axis, keepdim=keepdims)


def argmin(x, axis=None, keepdims=False):
    return torch.argmin(_t(x), dim=axis, keepdim=keepdims)


def cumsum(x, axis=None, dtype=None):
    x = _t(x)
    out = torch.cumsum(x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis)
    return out if dtype is None else out.to(parse_dtype(dtype))


def exp(x):
    return torch.exp(_float(x))


def log(x):
    return torch.log(_float(x))


def sqrt(x):
    return torch.sqrt(_float(x))


def square(x):
    return torch.square(_t(x))


def abs(x):  # noqa: A001
    return torch.abs(_t(x))


def tanh(x):
    return torch.tanh(_float(x))


def sigmoid(x):
    return torch.sigmoid(_float(x))


def relu(x):
    return torch.relu(_t(x))


def softmax(x, axis=-1):
    return torch.softmax(_float(x), dim=axis)


def log_softmax(x, axis=-1):
    return torch.log_softmax(_float(x), dim=axis)


def maximum(x1, x2):
    return torch.maximum(_t(x1), _t(x2))


def minimum(x1, x2):
    return torch.minimum(_t(x1), _t(x2))


def clip(x, x_min, x_max):
    return torch.clamp(_t(x), x_min, x_max)


def matmul(x1, x2):
    return torch.matmul(_t(x1), _t(x2))


def dot(x1, x2):
    x1, x2 = _t(x1), _t(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return torch.matmul(x1, x2) if x2.ndim <= 2 else torch.tensordot(x1, x2, dims=([-1], [-2]))


def concatenate(xs, axis=0):
    return torch.cat([_t(x) for x in xs], dim=axis)


def stack(x, axis=0):
    return torch.stack([_t(v) for v in x], dim=axis)


def expand_dims(x, axis):
    return torch.unsqueeze(_t(x), axis)


def squeeze(x, axis=None):
    x = _t(x)
    return torch.squeeze(x) if axis is None else torch.squeeze(x, dim=axis)


def reshape(x, newshape):
    return torch.reshape(_t(x), tuple(newshape) if isinstance(newshape, (list, tuple)) else (newshape,))


def transpose(x, axes=None):
    x = _t(x)
    return x.permute(*(tuple(axes) if axes is not None else range(x.ndim - 1, -1, -1)))


def tile(x, repeats):
    return torch.tile(_t(x), tuple(repeats) if isinstance(repeats, (list, tuple)) else (repeats,))


def repeat(x, repeats, axis=None):
    x = _t(x)
    return torch.repeat_interleave(x.reshape(-1) if axis is None else x, repeats, dim=0 if axis is None else axis)


def cast(x, dtype):
    return _t(x).to(parse_dtype(dtype))


def where(condition, x1=None, x2=None):
    condition = _t(condition).bool()
    if x1 is None and x2 is None:
        return tuple(torch.nonzero(condition, as_tuple=True))
    return torch.where(condition, _t(x1), _t(x2))


def shape(x) -> tuple:
    return tuple(_t(x).shape)


def ones_like(x, dtype=None):
    return torch.ones_like(_t(x), dtype=None if dtype is None else parse_dtype(dtype))


def zeros_like(x, dtype=None):
    return torch.zeros_like(_t(x), dtype=None if dtype is None else parse_dtype(dtype))


def ones(shape, dtype=None):
    return torch.ones(tuple(shape) if isinstance(shape, (list, tuple)) else (shape,), dtype=parse_dtype(dtype))


def zeros(shape, dtype=None):
    return torch.zeros(tuple(shape) if isinstance(shape, (list, tuple)) else (shape,), dtype=parse_dtype(dtype))


def arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    return torch.arange(start, stop, step, dtype=None if dtype is None else parse_dtype(dtype))


def one_hot(x, num_classes, axis=-1, dtype=None):
    out = F.one_hot(_t(x).long(), num_classes).to(parse_dtype(dtype))
    return out if axis == -1 else torch.movedim(out, -1, axis)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument name
    values, indices = torch.topk(_t(x), k, dim=-1, sorted=sorted)
    return values, indices


def take(x, indices, axis=None):
    x, indices = _t(x), _t(indices).long()
    if axis is None:
        return x.reshape(-1)[indices]
    return torch.index_select(x, axis, indices.reshape(-1)).reshape(
        x.shape[:axis % x.ndim] + indices.shape + x.shape[axis % x.ndim + 1:])


__all__ = [
    "abs", "all", "any", "arange", "argmax", "argmin", "cast", "clip", "concatenate", "convert_to_numpy",
    "convert_to_tensor", "cumsum", "dot", "exp", "expand_dims", "log", "log_softmax", "matmul", "max", "maximum",
    "mean", "min", "minimum", "one_hot", "ones", "ones_like", "relu", "repeat", "reshape", "shape", "sigmoid",
    "softmax", "sqrt", "square", "squeeze", "stack", "sum", "take", "tanh", "tile", "top_k", "transpose",
    "where", "zeros", "zeros_like",
]
