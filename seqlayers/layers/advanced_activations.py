"""Activation layers with arguments: LeakyReLU, PReLU, ELU, ReLU and Softmax (with a mask), as Keras's.

All of them keep their input's shape and pass its mask on (Keras's ``supports_masking``).
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import initializers
from ..errors import layer_label
from ..utils import to_tensor
from .base import InputSpec, Layer


def _non_negative(layer: str, arg: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{layer}: {arg} must be a non-negative number, got {value!r}.")
    return float(value)


class _Elementwise(Layer):
    supports_masking = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)  # no weights and no build of its own: Layer builds it at construction

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class LeakyReLU(_Elementwise):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below.

    Args:
        negative_slope: the slope below 0 (Keras's default 0.3; ``alpha=`` is its older name).

    Shape:
        input and output: ``(B, ...)``, unchanged. No weights.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras's deprecated name
            negative_slope = kwargs.pop("alpha")
            self._config["negative_slope"] = negative_slope
            self._config.pop("alpha", None)
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope)

    def call(self, inputs):
        return F.leaky_relu(inputs, self.negative_slope)


class ELU(_Elementwise):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below.

    Args:
        alpha: the scale of the negative part (default 1).

    Shape:
        input and output: ``(B, ...)``, unchanged. No weights.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return F.elu(inputs, self.alpha)


class ReLU(_Elementwise):
    """Keras's ReLU with its three options: ``x`` above ``threshold`` (else 0), clipped at
    ``max_value``, minus ``negative_slope * relu(threshold - x)``.

    Args:
        max_value: the largest output (None: no limit).
        negative_slope: the slope below the threshold (default 0).
        threshold: values at or below it are 0 before the negative part (default 0).

    Shape:
        input and output: ``(B, ...)``, unchanged. No weights.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative("ReLU", "max_value", max_value, allow_none=True)
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def call(self, inputs):
        x = inputs
        if self.negative_slope and self.max_value is None and not self.threshold:
            return F.leaky_relu(x, self.negative_slope)
        out = torch.where(x > self.threshold, x, torch.zeros((), dtype=x.dtype, device=x.device)) \
            if self.threshold else torch.relu(x)
        if self.max_value is not None:
            out = out.clamp(0.0, self.max_value)
        if self.negative_slope:
            out = out - self.negative_slope * torch.relu(self.threshold - x)
        return out


class PReLU(Layer):
    """A leaky ReLU whose slope is learned per value: ``max(x, 0) - alpha * max(-x, 0)``.

    Args:
        alpha_initializer: Keras initializer name (default zeros: a plain ReLU at first).
        alpha_regularizer, alpha_constraint: a penalty and a projection of the slopes.
        shared_axes: axes (1-based, after the batch) along which one slope is shared, e.g.
            ``shared_axes=[1]`` learns one slope per feature for every time step.

    Shape:
        input and output: ``(B, d1, ..., dn)``; the mask passes through.
        weights: alpha ``(d1, ..., dn)`` with 1 on the shared axes.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        initializers.get(alpha_initializer, "PReLU")
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError(f"PReLU: shared_axes must be axes after the batch axis (1, 2, ...), got "
                                 f"{shared_axes!r}.")
            self.shared_axes = axes

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if a > len(shape):
                raise ValueError(f"{layer_label(self)}: shared_axes {self.shared_axes} go past the input's "
                                 f"{len(input_shape)} dimensions.")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{layer_label(self)}: every axis not in shared_axes needs a known size, got input "
                             f"shape {tuple(input_shape)}; share the unknown axes, e.g. shared_axes=[1] for time.")
        cfg = self._config
        self.alpha = self.add_weight(shape, cfg["alpha_initializer"], regularizer=cfg["alpha_regularizer"],
                                     constraint=cfg["alpha_constraint"], name="alpha")
        shared = self.shared_axes or []
        self.input_spec = InputSpec(ndim=len(input_shape),
                                    axes={i: input_shape[i] for i in range(1, len(input_shape)) if i not in shared})

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        return torch.relu(inputs) - self.alpha * torch.relu(-inputs)


class Softmax(_Elementwise):
    """Softmax along ``axis``; with a mask, masked positions get probability 0.

    The mask broadcasts against the input from the last axis (NumPy's rule, as in Keras), e.g. a
    ``(B, 1, T)`` mask hides key steps of attention scores ``(B, T', T)``.

    Args:
        axis: the axis (or tuple of axes) to normalize over (default -1).

    Call arguments:
        mask: booleans (or 0/1) broadcastable to the input; True keeps a position.

    Shape:
        input and output: ``(B, ...)``, unchanged. No weights.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs, mask=None):
        x = inputs
        if mask is not None:
            mask = to_tensor(mask) if not isinstance(mask, torch.Tensor) else mask
            if mask.dim() > x.dim() or any(m != 1 and m != i for m, i in zip(mask.shape[::-1], x.shape[::-1])):
                raise ValueError(f"{layer_label(self)}: the mask must broadcast to the input (each axis, from the "
                                 f"last, 1 or the input's size), got mask {tuple(mask.shape)} for input "
                                 f"{tuple(x.shape)}.")
            mask = mask if mask.dtype == torch.bool else mask > 0.5
            big = -3e4 if x.dtype == torch.float16 else -1e9
            x = torch.where(mask, x, torch.full((), big, dtype=x.dtype, device=x.device))
        if isinstance(self.axis, tuple):
            out = torch.exp(x - torch.logsumexp(x, dim=self.axis, keepdim=True))
        else:
            out = torch.softmax(x, dim=self.axis)
        if mask is not None:
            out = torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))
        return out


__all__ = ["LeakyReLU", "PReLU", "ELU", "ReLU", "Softmax"]
