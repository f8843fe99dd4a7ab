"""Reshaping layers: RepeatVector, Flatten, Reshape."""
from __future__ import annotations

import math

from ..errors import fmt_shape, layer_label, shape_error
from .base import InputSpec, Layer
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

    Shape:
        input: ``(B, d1, d2, ...)``; output: ``(B, d1 * d2 * ...)``
    """

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def call(self, inputs):
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
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError(f"Reshape: at most one entry of target_shape may be -1, got {self.target_shape}.")

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


__all__ = ["RepeatVector", "Flatten", "Reshape"]
