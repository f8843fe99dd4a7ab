"""1-D convolutions over time: Conv1D and SeparableConv1D, as Keras's, on torch's fused conv1d.

``padding``: ``"valid"`` (no padding, ``T' = floor((T - d (K - 1) - 1) / s) + 1``), ``"same"``
(``T' = ceil(T / s)``, zeros split evenly with the extra one at the end, as Keras and TensorFlow
do) or ``"causal"`` (``d (K - 1)`` zeros at the start: step t sees only steps <= t; Conv1D only).
Keras's convolutions take no mask: a mask on the input is not passed on.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import activations, initializers
from ..errors import known_axis, layer_label
from .base import InputSpec, Layer
from .core import check_positive_int

_FORMATS = ("channels_last", "channels_first")


def one_int(layer: str, arg: str, value) -> int:
    """A positive int, or a 1-tuple of one (Keras accepts ``kernel_size=(3,)``)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return check_positive_int(layer, arg, value)


def data_format_arg(layer: str, value) -> str:
    value = "channels_last" if value is None else str(value).lower()
    if value not in _FORMATS:
        raise ValueError(f"{layer}: data_format must be 'channels_last' (B, T, F) or 'channels_first' (B, F, T), "
                         f"got {value!r}.")
    return value


def padding_arg(layer: str, value, allowed=("valid", "same", "causal")) -> str:
    v = str(value).lower()
    if v not in allowed:
        raise ValueError(f"{layer}: padding must be one of {', '.join(map(repr, allowed))}, got {value!r}.")
    return v


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(left, right) zeros so that the output has ``ceil(length / stride)`` steps (extra one right)."""
    span = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max(0, (out - 1) * stride + span - length)
    return total // 2, total - total // 2


def conv_output_length(length, kernel: int, padding: str, stride: int, dilation: int = 1):
    if length is None:
        return None
    if padding == "valid":
        n = (length - (kernel - 1) * dilation - 1) // stride + 1
        return max(n, 0)
    return -(-length // stride)


def pad_time(x: torch.Tensor, padding: str, kernel: int, stride: int, dilation: int = 1, value: float = 0.0):
    """Pad the last axis of a (B, C, T) tensor for ``padding``."""
    if padding == "valid":
        return x
    left, right = ((kernel - 1) * dilation, 0) if padding == "causal" else \
        same_padding(x.shape[-1], kernel, stride, dilation)
    return F.pad(x, (left, right), value=value) if left or right else x


class _Conv1DBase(Layer):
    _padding_modes: tuple[str, ...] = ("valid", "same", "causal")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.filters = check_positive_int(name, "filters", filters)
        self.kernel_size = one_int(name, "kernel_size", kernel_size)
        self.strides = one_int(name, "strides", strides)
        self.dilation_rate = one_int(name, "dilation_rate", dilation_rate)
        self.padding = padding_arg(name, padding, self._padding_modes)
        self.data_format = data_format_arg(name, data_format)
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(f"{name}: strides > 1 and dilation_rate > 1 cannot be combined (as in Keras), got "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}.")
        self.activation = activations.get(activation, name)
        self.use_bias = bool(use_bias)
        self.input_spec = InputSpec(ndim=3, dtype="float", expected="input of shape (batch, time, features)",
                                    hint="Conv1D slides over the time axis; add a feature axis, e.g. x[..., None] "
                                         "for a univariate series.")

    def _channels(self, input_shape) -> int:
        return known_axis(self, input_shape, -1 if self.data_format == "channels_last" else 1, "channel axis")

    def compute_output_shape(self, input_shape):
        time_axis = 1 if self.data_format == "channels_last" else 2
        self._check_length(input_shape[time_axis])
        T = conv_output_length(input_shape[time_axis], self.kernel_size, self.padding, self.strides,
                               self.dilation_rate)
        if self.data_format == "channels_last":
            return (input_shape[0], T, self.filters)
        return (input_shape[0], self.filters, T)

    def _check_length(self, T) -> None:
        if T is not None and self.padding == "valid" and \
                conv_output_length(T, self.kernel_size, "valid", 1, self.dilation_rate) < 1:
            raise ValueError(
                f"{layer_label(self)}: the input has {T} time steps, fewer than the kernel's span "
                f"{(self.kernel_size - 1) * self.dilation_rate + 1} (kernel_size={self.kernel_size}, "
                f"dilation_rate={self.dilation_rate}) with padding='valid'. Use padding='same' or 'causal', or "
                f"longer sequences.")

    def call(self, inputs):
        x = inputs.transpose(1, 2) if self.data_format == "channels_last" else inputs  # (B, T, C) -> (B, C, T)
        self._check_length(x.shape[-1])
        x = pad_time(x, self.padding, self.kernel_size, self.strides, self.dilation_rate)
        y = self.convolve(x)  # (B, filters, T')
        y = self.activation(y.transpose(1, 2) if self.data_format == "channels_last" else y)
        return y


class Conv1D(_Conv1DBase):
    """A 1-D convolution over time: ``y[t] = activation(sum_k x[t*s + k*d] @ kernel[k] + bias)``.

    Args:
        filters: H, the number of output channels.
        kernel_size: K, the window length in steps.
        strides: s, the step between windows.
        padding: ``"valid"``, ``"same"`` or ``"causal"`` (see the module docstring).
        data_format: ``"channels_last"`` (B, T, F) (default) or ``"channels_first"`` (B, F, T).
        dilation_rate: d, the gap between the kernel's taps (d > 1 with s > 1 is refused, as in Keras).
        groups: split the F input channels (and the H filters) into this many independent groups.
        activation, use_bias, kernel_initializer, bias_initializer: as ``Dense``.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: as ``Dense``.

    Shape:
        input: ``(B, T, F)``; output: ``(B, T', H)`` (``T'`` from the padding).
        weights (Keras layout): kernel ``(K, F / groups, H)``, bias ``(H,)``.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, **kwargs)
        self.groups = check_positive_int("Conv1D", "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"Conv1D: filters ({self.filters}) must be a multiple of groups ({self.groups}).")
        initializers.get(kernel_initializer, "Conv1D")
        initializers.get(bias_initializer, "Conv1D")

    def build(self, input_shape):
        C = self._channels(input_shape)
        if C % self.groups:
            raise ValueError(f"{layer_label(self)}: the input's {C} channels must be a multiple of groups "
                             f"({self.groups}).")
        cfg = self._config
        self.kernel = self.add_weight((self.kernel_size, C // self.groups, self.filters), cfg["kernel_initializer"],
                                      regularizer=cfg["kernel_regularizer"], constraint=cfg["kernel_constraint"],
                                      name="kernel")
        self.bias = self.add_weight((self.filters,), cfg["bias_initializer"], regularizer=cfg["bias_regularizer"],
                                    constraint=cfg["bias_constraint"], name="bias") if self.use_bias else None
        self.input_spec.axes = {-1 if self.data_format == "channels_last" else 1: C}

    def convolve(self, x):
        weight = self.kernel.permute(2, 1, 0)  # Keras (K, F/g, H) -> torch (H, F/g, K)
        return F.conv1d(x, weight, self.bias, stride=self.strides, dilation=self.dilation_rate, groups=self.groups)


class SeparableConv1D(_Conv1DBase):
    """A depthwise 1-D convolution (each channel alone, ``depth_multiplier`` filters each) followed by a
    pointwise one (a ``Dense`` over channels at each step), as Keras's ``SeparableConv1D``.

    Args:
        filters: H, the output channels of the pointwise step.
        kernel_size, strides, padding (``"valid"`` or ``"same"``), data_format, dilation_rate: as ``Conv1D``.
        depth_multiplier: M, depthwise filters per input channel.
        activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer: as ``Dense``.
        depthwise_/pointwise_/bias_regularizer and _constraint: penalties and projections of those weights.

    Shape:
        input: ``(B, T, F)``; output: ``(B, T', H)``.
        weights (Keras layout): depthwise_kernel ``(K, F, M)``, pointwise_kernel ``(1, F * M, H)``,
        bias ``(H,)``.
    """

    _padding_modes = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, **kwargs)
        self.depth_multiplier = check_positive_int("SeparableConv1D", "depth_multiplier", depth_multiplier)
        for init in (depthwise_initializer, pointwise_initializer, bias_initializer):
            initializers.get(init, "SeparableConv1D")

    def build(self, input_shape):
        C = self._channels(input_shape)
        cfg, M = self._config, self.depth_multiplier
        def weight(name, shape):
            return self.add_weight(shape, cfg[f"{name}_initializer"], regularizer=cfg[f"{name}_regularizer"],
                                   constraint=cfg[f"{name}_constraint"],
                                   name=name if name == "bias" else f"{name}_kernel")

        self.depthwise_kernel = weight("depthwise", (self.kernel_size, C, M))
        self.pointwise_kernel = weight("pointwise", (1, C * M, self.filters))
        self.bias = weight("bias", (self.filters,)) if self.use_bias else None
        self.input_spec.axes = {-1 if self.data_format == "channels_last" else 1: C}

    def convolve(self, x):
        K, C, M = self.depthwise_kernel.shape
        depthwise = self.depthwise_kernel.permute(1, 2, 0).reshape(C * M, 1, K)  # out channel c*M + m
        y = F.conv1d(x, depthwise, None, stride=self.strides, dilation=self.dilation_rate, groups=C)
        return F.conv1d(y, self.pointwise_kernel.permute(2, 1, 0), self.bias)  # (H, F*M, 1): per step


__all__ = ["Conv1D", "SeparableConv1D"]
