"""Reshaping layers: RepeatVector, Flatten, Reshape, UpSampling1D, ZeroPadding1D, Cropping1D, Permute."""
from __future__ import annotations

import math

import torch.nn.functional as F

from ..errors import fmt_shape, shape_error
from .base import InputSpec, Layer
from .convolutional import data_format_arg
from .core import check_positive_int


class RepeatVector(Layer):
    """Repeat a vector ``n`` times along a new time axis: the bridge from one to many.

    ``LSTM(H) -> RepeatVector(N) -> LSTM(H, return_sequences=True)`` is the encoder-decoder of
    seed 001 (B): the encoder's summary vector is fed to the decoder at each of N output steps.

    Shape:
        input: ``(B, F)``
        output: ``(B, n, F)`` (a view: no copy is made)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int("RepeatVector", "n", n)
        self.input_spec = InputSpec(ndim=2, expected="input of shape (batch, features)",
                                    hint="RepeatVector repeats one vector per sample; if the previous "
                                         "recurrent layer has return_sequences=True, set it to False.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        B, F = inputs.shape
        return inputs.unsqueeze(1).expand(B, self.n, F)  # (B, F) -> (B, n, F)


class Flatten(Layer):
    """Flatten every axis after the batch axis.

    Args:
        data_format: ``"channels_last"`` (default) flattens in order; ``"channels_first"`` moves axis 1
            (the channels) last before flattening, as Keras does, so both give the same feature order.

    Shape:
        input: ``(B, d1, d2, ...)``; output: ``(B, d1 * d2 * ...)`` (``(B, 1)`` for a ``(B,)`` input)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg("Flatten", data_format)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.dim() > 2:
            inputs = inputs.movedim(1, -1)  # (B, C, d...) -> (B, d..., C)
        return inputs.reshape(inputs.shape[0], -1)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1).

    Shape:
        input: ``(B, ...)``; output: ``(B, *target_shape)``
    """

    supports_masking = False

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if any(d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape: every entry of target_shape must be a non-negative integer, or -1 for one "
                             f"unknown size, got target_shape={self.target_shape}.")
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError(f"Reshape: at most one entry of target_shape may be -1, got {self.target_shape} "
                             f"(one unknown dimension; give the other sizes).")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 in self.target_shape:
            if any(d is None for d in rest):
                return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
            known = math.prod(d for d in self.target_shape if d != -1)
            total = math.prod(rest)
            if known == 0 or total % known:
                raise shape_error(self, f"a sample size divisible by {known} for target_shape "
                                        f"{self.target_shape}", input_shape)
            return (input_shape[0],) + tuple(total // known if d == -1 else d for d in self.target_shape)
        if all(d is not None for d in rest) and math.prod(rest) != math.prod(self.target_shape):
            raise shape_error(self, f"{math.prod(self.target_shape)} values per sample for target_shape "
                                    f"{fmt_shape(self.target_shape)}", input_shape,
                              "The product of target_shape must equal the product of the input's sample shape.")
        return (input_shape[0],) + self.target_shape

    def call(self, inputs):
        if -1 not in self.target_shape and inputs[0].numel() != math.prod(self.target_shape):
            raise shape_error(self, f"{math.prod(self.target_shape)} values per sample for target_shape "
                                    f"{fmt_shape(self.target_shape)}", tuple(inputs.shape))
        return inputs.reshape(inputs.shape[0], *self.target_shape)


def _pair(layer: str, arg: str, value) -> tuple[int, int]:
    """``n`` -> ``(n, n)``; a pair of non-negative ints as given (Keras's ``standardize_tuple``)."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair)):
        raise ValueError(f"{layer}: {arg} must be a non-negative integer or a pair (start, end) of them, "
                         f"got {value!r}.")
    return int(pair[0]), int(pair[1])


def _sequence_spec() -> InputSpec:
    return InputSpec(ndim=3, expected="input of shape (batch, time, features)")


class UpSampling1D(Layer):
    """Repeat each time step ``size`` times: ``[a, b] -> [a, a, b, b]``.

    Shape:
        input: ``(B, T, F)``; output: ``(B, T * size, F)``. No mask (as Keras).
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"UpSampling1D: size must be an integer, got {type(size).__name__} {size!r}.")
        self.size = check_positive_int("UpSampling1D", "size", size)
        self.input_spec = _sequence_spec()

    def compute_output_shape(self, input_shape):
        T = input_shape[1]
        return (input_shape[0], None if T is None else T * self.size, input_shape[2])

    def call(self, inputs):
        return inputs.repeat_interleave(self.size, dim=1)  # (B, T, F) -> (B, T * size, F)


class ZeroPadding1D(Layer):
    """Add zero steps at the start and end of the time axis.

    Args:
        padding: ``n`` (n zeros at both ends) or ``(start, end)``.
        data_format: ``"channels_last"`` (B, T, F) (default) or ``"channels_first"`` (B, F, T).

    Shape:
        input: ``(B, T, F)``; output: ``(B, start + T + end, F)``. No mask (as Keras).
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair("ZeroPadding1D", "padding", padding)
        self.data_format = data_format_arg("ZeroPadding1D", data_format)
        self.input_spec = _sequence_spec()

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        t = 1 if self.data_format == "channels_last" else 2
        out[t] = None if out[t] is None else out[t] + sum(self.padding)
        return tuple(out)

    def call(self, inputs):
        if self.data_format == "channels_last":
            return F.pad(inputs, (0, 0) + self.padding)  # pads (F: none) then (T: start, end)
        return F.pad(inputs, self.padding)


class Cropping1D(Layer):
    """Drop steps at the start and end of the time axis.

    Args:
        cropping: ``n`` (n steps at both ends) or ``(start, end)``; default ``(1, 1)``.

    Shape:
        input: ``(B, T, F)``; output: ``(B, T - start - end, F)``. No mask (as Keras).
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair("Cropping1D", "cropping", cropping)
        self.input_spec = _sequence_spec()

    def compute_output_shape(self, input_shape):
        T = input_shape[1]
        if T is not None and T - sum(self.cropping) <= 0:
            raise shape_error(self, f"more than {sum(self.cropping)} time steps to crop {self.cropping}",
                              input_shape, "Crop fewer steps, or feed longer sequences.")
        return (input_shape[0], None if T is None else T - sum(self.cropping), input_shape[2])

    def call(self, inputs):
        self.compute_output_shape(tuple(inputs.shape))
        start, end = self.cropping
        return inputs[:, start:inputs.shape[1] - end]


class Permute(Layer):
    """Reorder the axes after the batch axis: ``Permute((2, 1))`` turns ``(B, T, F)`` into ``(B, F, T)``.

    Args:
        dims: a permutation of ``1 .. rank - 1`` (the batch axis 0 stays first).

    Shape:
        input: ``(B, d1, ..., dn)``; output: ``(B, d_dims[0], ..., d_dims[n-1])``. No mask (as Keras).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)} (axis 0, the batch, "
                             f"stays first), got {tuple(dims)}.")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1, expected=f"input with {len(self.dims) + 1} dimensions")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        return inputs.permute(0, *self.dims)


__all__ = ["RepeatVector", "Flatten", "Reshape", "UpSampling1D", "ZeroPadding1D", "Cropping1D", "Permute"]
