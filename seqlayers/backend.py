"""``keras.backend``'s session-level functions, and Keras 2's backend tensor functions (``K.sum``, ``K.exp``,
``K.batch_dot``...) with Keras 2's arguments and defaults, on torch tensors; the backend is always torch.

There is no global graph or layer-name counter to reset (names are given per model), so
``clear_session`` only frees memory: Python's garbage and, on GPU, torch's cached blocks.
"""
from __future__ import annotations

import gc
from typing import Callable

import torch

from . import activations, ops
from .dtypes import dtype_name
from .training.losses import EPSILON


def backend() -> str:
    return "torch"


def floatx() -> str:
    """The float type of weights and float inputs: ``"float32"``."""
    return "float32"


def epsilon() -> float:
    """The fuzz factor of the losses (``1e-7``, as Keras)."""
    return EPSILON


def image_data_format() -> str:
    return "channels_last"


def clear_session(free_memory: bool = True) -> None:
    """Collect garbage and release torch's cached GPU memory (Keras also resets its name counters,
    which seqlayers does not have)."""
    if free_memory:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# ---------------------------------------------------------------- Keras 2's backend tensor functions
# Old programs write custom layers and losses with ``from keras import backend as K`` and ``K.sum(...)``;
# Keras 3 keeps these names (with Keras 2's arguments and defaults) only in its tf.keras compatibility
# module. Here they are thin calls of ``seqlayers.ops`` on torch tensors. A float input keeps its float type
# (float64 stays float64, as TensorFlow's ops keep it under Keras 2); ints and bools compute in float32.
def _floating(x) -> torch.Tensor:
    x = ops.convert_to_tensor(x)
    return x if x.is_floating_point() else x.float()


def _named(fn: Callable, op: Callable) -> Callable:
    fn.__name__ = fn.__qualname__ = op.__name__
    fn.__doc__ = f"Keras 2's ``K.{op.__name__}``: ``seqlayers.ops.{op.__name__}``."
    return fn


def _reduction(op: Callable) -> Callable:
    """``K.<name>(x, axis=None, keepdims=False)``, Keras 2's signature, calling ``ops.<name>``."""
    def fn(x, axis=None, keepdims=False):
        return op(x, axis=axis, keepdims=keepdims)
    return _named(fn, op)


def _unary(op: Callable) -> Callable:
    """``K.<name>(x)``, calling ``ops.<name>(x)``."""
    def fn(x):
        return op(x)
    return _named(fn, op)


def _binary(op: Callable) -> Callable:
    """``K.<name>(x, y)`` (Keras 2's argument names; ``ops`` names them ``x1, x2``), calling ``ops.<name>``."""
    def fn(x, y):
        return op(x, y)
    return _named(fn, op)


sum = _reduction(ops.sum)  # noqa: A001 - Keras's name
mean = _reduction(ops.mean)
max = _reduction(ops.max)  # noqa: A001 - Keras's name
min = _reduction(ops.min)  # noqa: A001 - Keras's name
prod = _reduction(ops.prod)
std = _reduction(ops.std)
var = _reduction(ops.var)
any = _reduction(ops.any)  # noqa: A001 - Keras's name
all = _reduction(ops.all)  # noqa: A001 - Keras's name
abs = _unary(ops.abs)  # noqa: A001 - Keras's name
exp = _unary(ops.exp)
log = _unary(ops.log)
sqrt = _unary(ops.sqrt)
square = _unary(ops.square)
sign = _unary(ops.sign)
round = _unary(ops.round)  # noqa: A001 - Keras's name
sigmoid = _unary(ops.sigmoid)
tanh = _unary(ops.tanh)
softplus = _unary(ops.softplus)
maximum = _binary(ops.maximum)
minimum = _binary(ops.minimum)
equal = _binary(ops.equal)
not_equal = _binary(ops.not_equal)
greater = _binary(ops.greater)
greater_equal = _binary(ops.greater_equal)
less = _binary(ops.less)
less_equal = _binary(ops.less_equal)


def argmax(x, axis=-1):
    return ops.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return ops.argmin(x, axis=axis)


def cumsum(x, axis=0):
    return ops.cumsum(x, axis=axis)


def cumprod(x, axis=0):
    return ops.cumprod(x, axis=axis)


def pow(x, a):  # noqa: A001
    return ops.power(x, a)


def sin(x):
    return torch.sin(_floating(x))


def cos(x):
    return torch.cos(_floating(x))


def hard_sigmoid(x):
    """Keras 2's ``K.hard_sigmoid``: ``clip(0.2 * x + 0.5, 0, 1)`` (slope 0.2, saturating at x = +-2.5).

    Not Keras 3's ``ops.hard_sigmoid`` / ``activations.hard_sigmoid``, ``relu6(x + 3) / 6`` (slope 1/6,
    saturating at +-3): a layer's ``activation="hard_sigmoid"`` is that one, as in Keras 3.
    """
    x = _floating(x)
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def softsign(x):
    return activations.softsign(_floating(x))


def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    x = _floating(x)
    out = torch.where(x > threshold, x, alpha * (x - threshold))
    return out if max_value is None else torch.clamp(out, max=max_value)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def clip(x, min_value, max_value):
    return ops.clip(x, min_value, max_value)


def switch(condition, then_expression, else_expression):
    return ops.where(condition, then_expression, else_expression)


def dot(x, y):
    return ops.dot(x, y)


def batch_dot(x, y, axes=None):
    """Keras 2's batch-wise dot product: axis ``axes[0]`` of ``x`` and ``axes[1]`` of ``y`` are contracted
    for each sample; (B, D) . (B, D) gives (B, 1)."""
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    if axes is None:
        axes = (x.ndim - 1, y.ndim - 2 if y.ndim > 2 else 1)
    if isinstance(axes, int):
        axes = (axes, axes)
    xr = x.movedim(axes[0] % x.ndim, -1)  # (B, m..., K)
    yr = y.movedim(axes[1] % y.ndim, 1)   # (B, K, n...)
    B, K = xr.shape[0], xr.shape[-1]
    out = torch.bmm(xr.reshape(B, -1, K), yr.reshape(B, K, -1))  # (B, M, N)
    out = out.reshape(B, *xr.shape[1:-1], *yr.shape[2:])
    return out.unsqueeze(-1) if out.ndim == 1 else out


def concatenate(tensors, axis=-1):
    return ops.concatenate(tensors, axis=axis)


def stack(x, axis=0):
    return ops.stack(x, axis=axis)


def expand_dims(x, axis=-1):
    return ops.expand_dims(x, axis)


def squeeze(x, axis):
    return ops.squeeze(x, axis=axis)


def reshape(x, shape):
    return ops.reshape(x, shape)


def permute_dimensions(x, pattern):
    return ops.transpose(x, axes=pattern)


def transpose(x):
    return ops.transpose(x)


def flatten(x):
    return ops.ravel(x)


def batch_flatten(x):
    x = ops.convert_to_tensor(x)
    return x.reshape(x.shape[0], -1)  # (B, ...) -> (B, prod(...))


def repeat(x, n):
    """(B, D) -> (B, n, D), as Keras 2's ``K.repeat`` (RepeatVector)."""
    return ops.convert_to_tensor(x).unsqueeze(1).expand(-1, n, -1)


def repeat_elements(x, rep, axis):
    return ops.repeat(x, rep, axis=axis)


def tile(x, n):
    return ops.tile(x, n)


def reverse(x, axes):
    return ops.flip(x, axis=axes)


def temporal_padding(x, padding=(1, 1)):
    return ops.pad(x, [(0, 0), tuple(padding), (0, 0)])


def l2_normalize(x, axis=None):
    x = _floating(x)
    dims = tuple(range(x.ndim)) if axis is None else axis
    return x * torch.rsqrt(torch.clamp(torch.sum(x * x, dim=dims, keepdim=True), min=1e-12))


def one_hot(indices, num_classes):
    return ops.one_hot(indices, num_classes)


def gather(reference, indices):
    return ops.take(reference, indices, axis=0)


def cast(x, dtype):
    return ops.cast(x, dtype)


def shape(x):
    return ops.shape(x)


def int_shape(x):
    return ops.shape(x)


def ndim(x):
    return len(ops.shape(x))


def dtype(x) -> str:
    return dtype_name(ops.convert_to_tensor(x).dtype)


def zeros(shape, dtype=None, name=None):
    return ops.zeros(shape, dtype=dtype)


def ones(shape, dtype=None, name=None):
    return ops.ones(shape, dtype=dtype)


def zeros_like(x, dtype=None, name=None):
    return ops.zeros_like(x, dtype=dtype)


def ones_like(x, dtype=None, name=None):
    return ops.ones_like(x, dtype=dtype)


def arange(start, stop=None, step=1, dtype="int32"):
    return ops.arange(start, stop, step, dtype=dtype)


def constant(value, dtype=None, shape=None, name=None):
    """Keras 2's: without ``dtype``, ``floatx()`` (float32) whatever the value's type (unlike the tensor functions)."""
    out = ops.convert_to_tensor(value, dtype=dtype or floatx())
    return out if shape is None else torch.broadcast_to(out, tuple(shape)).clone()


def variable(value, dtype=None, name=None, constraint=None):
    """Keras 2's: without ``dtype``, ``floatx()`` (float32) whatever the value's type."""
    return torch.nn.Parameter(ops.convert_to_tensor(value, dtype=dtype or floatx()))


def stop_gradient(variables):
    if isinstance(variables, (list, tuple)):
        return [ops.stop_gradient(v) for v in variables]
    return ops.stop_gradient(variables)


def count_params(x) -> int:
    return int(ops.convert_to_tensor(x).numel())


def get_value(x):
    return ops.convert_to_numpy(x)


def batch_get_value(tensors):
    return [get_value(t) for t in tensors]


def eval(x):  # noqa: A001
    return get_value(x)


def set_value(x, value) -> None:
    with torch.no_grad():
        x.copy_(ops.convert_to_tensor(value, dtype=dtype_name(x.dtype)))


def binary_crossentropy(target, output, from_logits=False):
    output = _floating(output)
    target = ops.convert_to_tensor(target).to(output.dtype)
    if from_logits:
        return torch.nn.functional.binary_cross_entropy_with_logits(output, target, reduction="none")
    output = torch.clamp(output, EPSILON, 1.0 - EPSILON)
    return -(target * torch.log(output) + (1 - target) * torch.log(1 - output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = _floating(output)
    target = ops.convert_to_tensor(target).to(output.dtype)
    if from_logits:
        return -(target * torch.log_softmax(output, dim=axis)).sum(dim=axis)
    output = output / output.sum(dim=axis, keepdim=True)
    return -(target * torch.log(torch.clamp(output, EPSILON, 1.0 - EPSILON))).sum(dim=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1, ignore_class=None):
    output = _floating(output)
    target = ops.convert_to_tensor(target).long()
    ids = target if ignore_class is None else torch.where(target == ignore_class, 0, target)
    onehot = ops.one_hot(ids, output.shape[axis], axis=axis)
    out = categorical_crossentropy(onehot, output, from_logits=from_logits, axis=axis)
    return out if ignore_class is None else torch.where(target == ignore_class, 0.0, out)


__all__ = [
    "abs", "all", "any", "arange", "argmax", "argmin", "backend", "batch_dot", "batch_flatten", "batch_get_value",
    "binary_crossentropy", "cast", "categorical_crossentropy", "clear_session", "clip", "concatenate", "constant",
    "cos", "count_params", "cumprod", "cumsum", "dot", "dtype", "elu", "epsilon", "equal", "eval", "exp",
    "expand_dims", "flatten", "floatx", "gather", "get_value", "greater", "greater_equal", "hard_sigmoid",
    "image_data_format", "int_shape", "l2_normalize", "less", "less_equal", "log", "max", "maximum", "mean", "min",
    "minimum", "ndim", "not_equal", "one_hot", "ones", "ones_like", "permute_dimensions", "pow", "prod", "relu",
    "repeat", "repeat_elements", "reshape", "reverse", "round", "set_value", "shape", "sigmoid", "sign", "sin",
    "softmax", "softplus", "softsign", "sparse_categorical_crossentropy", "sqrt", "square", "squeeze", "stack",
    "std", "stop_gradient", "sum", "switch", "tanh", "temporal_padding", "tile", "transpose", "var", "variable",
    "zeros", "zeros_like",
]
