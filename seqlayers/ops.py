"""``keras.ops``'s tensor functions that sequence code uses, with Keras's argument names, on torch tensors.

Each takes tensors, numpy arrays or numbers (converted with ``convert_to_tensor``: float64 becomes
float32, as Keras's floatx) and returns torch tensors, so code written for ``keras.ops`` inside a
custom layer's ``call`` or a ``Lambda`` runs here unchanged.
"""
from __future__ import annotations

import builtins

import numpy as np
import torch
import torch.nn.functional as F

from . import activations
from .dtypes import parse_dtype as _parse_dtype

builtins_max, builtins_min = builtins.max, builtins.min  # this module defines max and min


def parse_dtype(dtype) -> torch.dtype:
    return _parse_dtype(dtype, "ops")


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None) -> torch.Tensor:
    if sparse or ragged:
        raise ValueError("ops.convert_to_tensor: sparse and ragged tensors are not supported (torch tensors here "
                         "are dense); pad ragged data first (utils.pad_sequences).")
    if not isinstance(x, torch.Tensor):
        array = isinstance(x, np.ndarray)
        x = torch.as_tensor(np.asarray(x))
        if x.dtype == torch.float64 and dtype is None and not array:  # as Keras: Python floats and lists are
            x = x.float()  # floatx (float32); a float64 NumPy array stays float64
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


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    out = _reduce(torch.amax, x, axis, keepdims)
    return out if initial is None else torch.clamp(out, min=initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    out = _reduce(torch.amin, x, axis, keepdims)
    return out if initial is None else torch.clamp(out, max=initial)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(torch.any, _t(x).bool(), axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(torch.all, _t(x).bool(), axis, keepdims)


def argmax(x, axis=None, keepdims=False):
    return torch.argmax(_t(x), dim=axis, keepdim=keepdims).int()  # int32, as Keras


def argmin(x, axis=None, keepdims=False):
    return torch.argmin(_t(x), dim=axis, keepdim=keepdims).int()


def _scan(fn, x, axis, dtype):
    """A cumulative op along ``axis`` (of the flattened ``x`` when None), cast to ``dtype`` if given."""
    x = _t(x)
    out = fn(x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis)
    return out if dtype is None else out.to(parse_dtype(dtype))


def cumsum(x, axis=None, dtype=None):
    return _scan(torch.cumsum, x, axis, dtype)


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
    x = _float(x)
    if x.dim() and axis in (-1, x.dim() - 1):
        return activations.softmax(x)  # the last axis: with its short-axis path (torch's kernel is scalar there)
    return torch.softmax(x, dim=axis)


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


def arange(start, stop=None, step=None, dtype=None):
    step = 1 if step is None else step
    if stop is None:
        start, stop = 0, start
    out = torch.arange(start, stop, step, dtype=None if dtype is None else parse_dtype(dtype))
    return out.int() if dtype is None and out.dtype == torch.int64 else out  # int32 for whole numbers, as Keras


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("ops.one_hot: sparse=True is not supported (torch tensors here are dense); use sparse=False.")
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


# ---------------------------------------------------------------- more of keras.ops (same names and arguments)
def _pair(x1, x2):
    return _t(x1), _t(x2)


def add(x1, x2):
    return torch.add(*_pair(x1, x2))


def subtract(x1, x2):
    return torch.subtract(*_pair(x1, x2))


def multiply(x1, x2):
    return torch.multiply(*_pair(x1, x2))


def divide(x1, x2):
    a, b = _pair(x1, x2)
    return torch.divide(a if a.is_floating_point() else a.float(), b)


def power(x1, x2):
    return torch.pow(*_pair(x1, x2))


def mod(x1, x2):
    return torch.remainder(*_pair(x1, x2))


def negative(x):
    return torch.negative(_t(x))


def reciprocal(x):
    return torch.reciprocal(_float(x))


def sign(x):
    return torch.sign(_t(x))


def round(x, decimals=0):  # noqa: A001
    return torch.round(_t(x), decimals=decimals)


def floor(x):
    return torch.floor(_float(x))


def ceil(x):
    return torch.ceil(_float(x))


def log1p(x):
    return torch.log1p(_float(x))


def expm1(x):
    return torch.expm1(_float(x))


def erf(x):
    return torch.erf(_float(x))


def equal(x1, x2):
    return torch.eq(*_pair(x1, x2))


def not_equal(x1, x2):
    return torch.ne(*_pair(x1, x2))


def greater(x1, x2):
    return torch.gt(*_pair(x1, x2))


def greater_equal(x1, x2):
    return torch.ge(*_pair(x1, x2))


def less(x1, x2):
    return torch.lt(*_pair(x1, x2))


def less_equal(x1, x2):
    return torch.le(*_pair(x1, x2))


def logical_and(x1, x2):
    return torch.logical_and(*_pair(x1, x2))


def logical_or(x1, x2):
    return torch.logical_or(*_pair(x1, x2))


def logical_not(x):
    return torch.logical_not(_t(x))


def isnan(x):
    return torch.isnan(_t(x))


def isfinite(x):
    return torch.isfinite(_t(x))


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _t(x)
    if axis is None:
        out = torch.prod(x)
        out = out.reshape((1,) * x.ndim) if keepdims else out
    else:
        for a in sorted((axis if isinstance(axis, (list, tuple)) else [axis]), key=lambda a: -(a % x.ndim)):
            x = torch.prod(x, dim=a, keepdim=keepdims)
        out = x
    return out if dtype is None else out.to(parse_dtype(dtype))


def var(x, axis=None, keepdims=False):
    x = _float(x)
    return torch.var(x, dim=_axes(axis), keepdim=keepdims, correction=0)


def std(x, axis=None, keepdims=False):
    x = _float(x)
    return torch.std(x, dim=_axes(axis), keepdim=keepdims, correction=0)


def logsumexp(x, axis=None, keepdims=False):
    x = _float(x)
    return torch.logsumexp(x, dim=tuple(range(x.ndim)) if axis is None else _axes(axis), keepdim=keepdims)


def cumprod(x, axis=None, dtype=None):
    return _scan(torch.cumprod, x, axis, dtype)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    x = _float(x)
    if axis is None:
        return torch.linalg.vector_norm(x.reshape(-1), ord=2 if ord is None else ord).reshape(
            (1,) * x.ndim if keepdims else ())
    if isinstance(axis, (list, tuple)):
        return torch.linalg.matrix_norm(x, ord="fro" if ord is None else ord, dim=tuple(axis), keepdim=keepdims)
    return torch.linalg.vector_norm(x, ord=2 if ord is None else ord, dim=axis, keepdim=keepdims)


def normalize(x, axis=-1, order=2, epsilon=None):
    x = _float(x)
    eps = 1e-12 if epsilon is None else epsilon  # Keras's default for order 2 divides by max(norm, eps)
    return x / torch.clamp(torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True), min=eps)


def einsum(subscripts, *operands, **kwargs):
    return torch.einsum(subscripts, *[_t(o) for o in operands])


def split(x, indices_or_sections, axis=0):
    x = _t(x)
    if isinstance(indices_or_sections, int):
        return list(torch.tensor_split(x, indices_or_sections, dim=axis))
    return list(torch.tensor_split(x, list(indices_or_sections), dim=axis))


def unstack(x, num=None, axis=0):
    return list(torch.unbind(_t(x), dim=axis))


def pad(x, pad_width, mode="constant", constant_values=None):
    x = _t(x)
    widths = [tuple(w) if isinstance(w, (list, tuple)) else (w, w) for w in pad_width]
    flat = [int(v) for pair in reversed(widths) for v in pair]  # torch: last axis first
    if mode != "constant":
        return torch.from_numpy(np.pad(x.detach().cpu().numpy(), widths, mode=mode)).to(x.device)
    return F.pad(x, flat, value=0 if constant_values is None else constant_values)


def flip(x, axis=None):
    x = _t(x)
    dims = tuple(range(x.ndim)) if axis is None else (tuple(axis) if isinstance(axis, (list, tuple)) else (axis,))
    return torch.flip(x, dims)


def swapaxes(x, axis1, axis2):
    return torch.swapaxes(_t(x), axis1, axis2)


def moveaxis(x, source, destination):
    return torch.movedim(_t(x), source, destination)


def broadcast_to(x, shape):
    return torch.broadcast_to(_t(x), tuple(shape))


def ravel(x):
    return torch.ravel(_t(x))


def sort(x, axis=-1):
    return torch.sort(_t(x), dim=axis).values


def argsort(x, axis=-1):
    return torch.argsort(_t(x), dim=axis, stable=True).int()


def take_along_axis(x, indices, axis=None):
    x, indices = _t(x), _t(indices).long()
    if axis is None:
        return x.reshape(-1)[indices.reshape(-1)]
    return torch.take_along_dim(x, indices, dim=axis)


def full(shape, fill_value, dtype=None):
    return torch.full(tuple(shape) if isinstance(shape, (list, tuple)) else (shape,), fill_value,
                      dtype=parse_dtype(dtype))


def full_like(x, fill_value, dtype=None):
    return torch.full_like(_t(x), fill_value, dtype=None if dtype is None else parse_dtype(dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    M = N if M is None else M
    out = torch.zeros((N, M), dtype=parse_dtype(dtype))
    i = torch.arange(builtins_max(0, -k), builtins_min(N, M - k))
    out[i, i + k] = 1
    return out


def tril(x, k=0):
    return torch.tril(_t(x), diagonal=k)


def triu(x, k=0):
    return torch.triu(_t(x), diagonal=k)


def stop_gradient(variable):
    return _t(variable).detach()


def softplus(x):
    return F.softplus(_float(x))


def silu(x):
    return F.silu(_float(x))


swish = silu


def gelu(x, approximate=True):
    return F.gelu(_float(x), approximate="tanh" if approximate else "none")


def elu(x, alpha=1.0):
    return F.elu(_float(x), alpha=alpha)


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(_float(x), negative_slope=negative_slope)


def relu6(x):
    return F.relu6(_float(x))


def hard_sigmoid(x):
    return F.hardsigmoid(_float(x))


def selu(x):
    return F.selu(_float(x))


__all__ = [
    "abs", "add", "all", "any", "arange", "argmax", "argmin", "argsort", "broadcast_to", "cast", "ceil", "clip",
    "concatenate", "convert_to_numpy", "convert_to_tensor", "cumprod", "cumsum", "divide", "dot", "einsum", "elu",
    "equal", "erf", "exp", "expand_dims", "expm1", "eye", "flip", "floor", "full", "full_like", "gelu", "greater",
    "greater_equal", "hard_sigmoid", "isfinite", "isnan", "leaky_relu", "less", "less_equal", "log", "log1p",
    "log_softmax", "logical_and", "logical_not", "logical_or", "logsumexp", "matmul", "max", "maximum", "mean",
    "min", "minimum", "mod", "moveaxis", "multiply", "negative", "norm", "normalize", "not_equal", "one_hot",
    "ones", "ones_like", "pad", "power", "prod", "ravel", "reciprocal", "relu", "relu6", "repeat",
    "reshape", "round", "selu", "shape", "sigmoid", "sign", "silu", "softmax", "softplus", "sort", "split", "sqrt",
    "square", "squeeze", "stack", "std", "stop_gradient", "subtract", "sum", "swapaxes", "swish", "take",
    "take_along_axis", "tanh", "tile", "top_k", "transpose", "tril", "triu", "unstack", "var", "where", "zeros",
    "zeros_like",
]
