"""Merging layers: Concatenate and Add, on a list of tensors."""
from __future__ import annotations

import torch

from ..errors import fmt_shape, layer_label
from .base import Layer


class _Merge(Layer):
    supports_masking = True

    def _check_list(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) < 2 or not isinstance(shapes[0], (list, tuple)):
            raise ValueError(
                f"{type(self).__name__}: expected a list of at least 2 inputs, got "
                f"{fmt_shape(shapes) if isinstance(shapes, tuple) else type(shapes).__name__}. "
                f"Call it as {type(self).__name__}()([a, b])."
            )

    def build(self, input_shape):
        self._check_list(input_shape)

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        masks = [m for m in mask if m is not None]
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out


class Concatenate(_Merge):
    """Join tensors along ``axis`` (default: the last, the feature axis).

    Shape:
        inputs: ``[(B, ..., F1), (B, ..., F2), ...]``; output: ``(B, ..., F1 + F2 + ...)``.
        Masks: a step is valid when it is valid in every input.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        out = list(input_shape[0])
        ax = self.axis % len(out)
        for s in input_shape[1:]:
            if len(s) != len(out) or any(a != b and a is not None and b is not None
                                         for i, (a, b) in enumerate(zip(s, out)) if i != ax):
                raise ValueError(
                    f"{layer_label(self)}: inputs must match on every axis except axis {self.axis}, got "
                    f"{', '.join(fmt_shape(x) for x in input_shape)}."
                )
            out[ax] = None if (out[ax] is None or s[ax] is None) else out[ax] + s[ax]
        return tuple(out)

    def call(self, inputs):
        self.compute_output_shape([tuple(t.shape) for t in inputs])
        return torch.cat(list(inputs), dim=self.axis)


class Add(_Merge):
    """Sum tensors of the same shape.

    Shape:
        inputs: ``[(B, ...), (B, ...), ...]`` all alike; output: ``(B, ...)``.
    """

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        first = tuple(input_shape[0])
        for s in input_shape[1:]:
            if len(s) != len(first) or any(a != b and a is not None and b is not None for a, b in zip(s, first)):
                raise ValueError(
                    f"{layer_label(self)}: inputs must have the same shape, got "
                    f"{', '.join(fmt_shape(x) for x in input_shape)}."
                )
        return first

    def call(self, inputs):
        self.compute_output_shape([tuple(t.shape) for t in inputs])
        out = inputs[0]
        for t in inputs[1:]:
            out = out + t
        return out


__all__ = ["Concatenate", "Add"]
