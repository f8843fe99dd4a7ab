"""Merging layers on a list of tensors: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot, and their functional forms (``add([a, b])`` is ``Add()([a, b])``).

Masks follow Keras exactly. The element-wise merges give the OR of the inputs' masks (a step is
valid when it is valid in any input) when every input is masked, and no mask as soon as one input
has none. ``Maximum`` / ``Minimum`` / ``Multiply`` also ignore the masked steps of each input while
computing (a masked input takes the other inputs' value, or 1 in a product; a product over steps
masked everywhere is 0). ``Concatenate`` expands each mask to its input's shape (an input without
mask counts as valid everywhere), joins them along ``axis`` and keeps a step when any of its
features is valid: along the time axis the masks are concatenated; along the feature axis a step
is valid when it is valid in some input. ``Dot`` returns no mask.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import fmt_shape, layer_label
from .base import Layer


def _expand_mask(mask: torch.Tensor, x) -> torch.Tensor:
    """A (B, T) mask broadcast to the shape of ``x`` (B, T, ...), as booleans; a size ``x`` does not
    know (a symbolic input's None) is the mask's."""
    mask = mask.bool()
    while mask.dim() < len(x.shape):
        mask = mask.unsqueeze(-1)
    return mask.expand([m if d is None else d for d, m in zip(x.shape, mask.shape)])


def _shapes(inputs) -> list[tuple[int, ...]]:
    """The inputs' shapes as plain ints (under tracing, e.g. for ONNX, sizes may be traced values)."""
    return [tuple(int(d) for d in t.shape) for t in inputs]


class _Merge(Layer):
    """Element-wise merge of inputs whose shapes broadcast (a lower-rank input gains axes after
    the batch axis, as in Keras)."""

    supports_masking = True
    _min_inputs = 1

    def _check_list(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) < self._min_inputs or not shapes \
                or not isinstance(shapes[0], (list, tuple)):
            raise ValueError(
                f"{type(self).__name__}: expected a list of at least {max(self._min_inputs, 2)} inputs, got "
                f"{fmt_shape(shapes) if isinstance(shapes, tuple) else type(shapes).__name__}. "
                f"Call it as {type(self).__name__}()([a, b])."
            )

    def build(self, input_shape):
        self._check_list(input_shape)  # the shapes are checked on each call, with the batch size

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        batches = {s[0] for s in input_shape if s} - {None}
        if len(batches) > 1:
            raise ValueError(f"{layer_label(self)}: inputs must have the same batch size, got "
                             f"{', '.join(fmt_shape(s) for s in input_shape)}.")
        out = tuple(input_shape[0][1:])
        for s in input_shape[1:]:
            out = self._broadcast(out, tuple(s[1:]), input_shape)
        return (batches.pop() if batches else None,) + out

    def _broadcast(self, a, b, shapes):
        if len(a) < len(b):
            a, b = b, a
        lead, out = list(a[:len(a) - len(b)]), []
        for i, j in zip(a[len(a) - len(b):], b):
            if i is None or j is None:
                out.append(None)
            elif i == 1 or j == 1 or i == j:
                out.append(j if i == 1 else i)
            else:
                raise ValueError(
                    f"{layer_label(self)}: inputs must have the same shape, got "
                    f"{', '.join(fmt_shape(x) for x in shapes)} (sizes 1 broadcast). Bring them to one shape "
                    f"first, e.g. with a Dense layer of the same size or RepeatVector."
                )
        return tuple(lead + out)

    def _check_masks(self, inputs, mask) -> bool:
        """False when there is no mask; Keras's rules for a mask list otherwise."""
        if mask is None:
            return False
        if not isinstance(mask, (list, tuple)):
            raise ValueError(f"{layer_label(self)}: `mask` should be a list of one mask (or None) per input, got "
                             f"a {type(mask).__name__}.")
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{layer_label(self)}: `inputs` should be a list of tensors, got a "
                             f"{type(inputs).__name__}.")
        if len(mask) != len(inputs):
            raise ValueError(f"{layer_label(self)}: inputs and masks should have the same length, got {len(inputs)} "
                             f"inputs and {len(mask)} masks.")
        return True

    def compute_mask(self, inputs, mask=None):
        if not self._check_masks(inputs, mask) or any(m is None for m in mask):
            return None
        out = mask[0].bool()
        for m in mask[1:]:
            out = out | m.bool()
        return out

    def _aligned(self, inputs):
        """The inputs with lower-rank ones expanded at axis 1 to the highest rank."""
        if not isinstance(inputs, (list, tuple)):
            self._check_list(type(inputs).__name__)
        self.compute_output_shape(_shapes(inputs))
        rank = max(t.dim() for t in inputs)
        out = []
        for t in inputs:
            while t.dim() < rank:
                t = t.unsqueeze(1)
            out.append(t)
        return out

    def call(self, inputs):
        return self._merge(self._aligned(inputs))

    def _merge(self, inputs):
        raise NotImplementedError


class Add(_Merge):
    """Sum tensors of the same shape.

    Shape:
        inputs: ``[(B, ...), (B, ...), ...]`` all alike (or broadcastable); output: ``(B, ...)``.
        Mask: the OR of the inputs' masks when all are masked, else none.
    """

    def _merge(self, inputs):
        out = inputs[0]
        for t in inputs[1:]:
            out = out + t
        return out


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` for exactly two tensors of the same shape.

    Shape:
        inputs: ``[(B, ...), (B, ...)]``; output: ``(B, ...)``. Mask: as ``Add``.
    """

    def compute_output_shape(self, input_shape):
        out = super().compute_output_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{layer_label(self)}: expected exactly 2 inputs, got {len(input_shape)}. "
                             f"Subtract computes inputs[0] - inputs[1]; chain layers for more.")
        return out

    def _merge(self, inputs):
        return inputs[0] - inputs[1]


class Average(_Merge):
    """The element-wise mean of tensors of the same shape.

    Shape:
        inputs: ``[(B, ...), ...]``; output: ``(B, ...)``. Mask: as ``Add``.
    """

    def _merge(self, inputs):
        out = inputs[0]
        for t in inputs[1:]:
            out = out + t
        return out / len(inputs)


class Multiply(_Merge):
    """The element-wise product of tensors of the same shape.

    Masked steps of an input count as 1 in the product; when every input is masked, the steps
    masked in all of them are 0.

    Shape:
        inputs: ``[(B, ...), ...]``; output: ``(B, ...)``. Mask: as ``Add``.
    """

    def call(self, inputs, mask=None):
        inputs = self._aligned(inputs)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs)
        out, valid = None, None
        for x, m in zip(inputs, masks):
            if m is not None:
                m = _expand_mask(m, x)
                x = torch.where(m, x, torch.ones((), dtype=x.dtype, device=x.device))
                valid = m if valid is None else valid | m
            out = x if out is None else out * x
        if all(m is not None for m in masks):
            out = torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))
        return out


class _Extremum(_Merge):
    """Maximum / Minimum: a masked input takes the running result's value and vice versa, so that
    masked steps never win."""

    _op = staticmethod(torch.maximum)

    def call(self, inputs, mask=None):
        inputs = self._aligned(inputs)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs)
        out, out_mask = inputs[0], None if masks[0] is None else _expand_mask(masks[0], inputs[0])
        for x, m in zip(inputs[1:], masks[1:]):
            m = None if m is None else _expand_mask(m, x)
            if m is not None:
                x = torch.where(m, x, out)
            if out_mask is not None:
                out = torch.where(out_mask, out, x)
            out_mask = out_mask | m if (m is not None and out_mask is not None) else None
            out = self._op(out, x)
        return out


class Maximum(_Extremum):
    """The element-wise maximum of tensors of the same shape (masked steps never win).

    Shape:
        inputs: ``[(B, ...), ...]``; output: ``(B, ...)``. Mask: as ``Add``.
    """

    _op = staticmethod(torch.maximum)


class Minimum(_Extremum):
    """The element-wise minimum of tensors of the same shape (masked steps never win).

    Shape:
        inputs: ``[(B, ...), ...]``; output: ``(B, ...)``. Mask: as ``Add``.
    """

    _op = staticmethod(torch.minimum)


class Concatenate(_Merge):
    """Join tensors along ``axis`` (default: the last, the feature axis).

    Args:
        axis: the axis to join along (1 is time for ``(B, T, F)`` inputs).

    Shape:
        inputs: ``[(B, ..., F1), (B, ..., F2), ...]``; output: ``(B, ..., F1 + F2 + ...)``.
        Mask (see the module docstring): along time, the masks concatenated; along features, a
        step is valid when valid in any input, an input without mask counting as valid.
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

    def compute_mask(self, inputs, mask=None):
        if not self._check_masks(inputs, mask) or all(m is None for m in mask):
            return None
        given = [_expand_mask(m, x) for x, m in zip(inputs, mask) if m is not None]
        ref = given[0]  # an unmasked input is valid everywhere; a size it does not know is a mask's

        def ones(x):
            shape = [r if d is None else d for d, r in zip(x.shape, ref.shape)]
            return torch.ones(shape, dtype=torch.bool, device=ref.device)

        full = [ones(x) if m is None else _expand_mask(m, x) for x, m in zip(inputs, mask)]
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def call(self, inputs):
        self.compute_output_shape(_shapes(inputs))
        return torch.cat(list(inputs), dim=self.axis)


class Dot(_Merge):
    """The dot product of two tensors along one axis of each, per sample (Keras's ``batch_dot``).

    For ``a (B, M, K)`` and ``b (B, N, K)`` with ``axes=2``: ``(B, M, N)``, ``out[i] = a[i] @ b[i].T``.

    Args:
        axes: one axis for both inputs, or ``(axis_a, axis_b)``; never 0 (the batch axis).
        normalize: L2-normalize both inputs along those axes first (the output is then the cosine
            similarity).

    Shape:
        inputs: ``[a, b]`` with ``a.shape[axis_a] == b.shape[axis_b]``; output: ``a``'s shape without
        ``axis_a``, followed by ``b``'s shape without the batch axis and ``axis_b``; ``(B, 1)`` when
        that leaves only the batch axis. No output mask.
    """

    _min_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, bool) or not (isinstance(axes, int) or (
                isinstance(axes, (list, tuple)) and len(axes) == 2 and all(
                    isinstance(a, int) and not isinstance(a, bool) for a in axes))):
            raise (TypeError if not isinstance(axes, (int, list, tuple)) else ValueError)(
                f"Dot: axes must be an integer or a pair of integers (one axis of each input), got "
                f"{axes!r}. E.g. Dot(axes=2) or Dot(axes=(1, 2)).")
        self.axes = axes if isinstance(axes, int) else tuple(axes)
        self.normalize = bool(normalize)

    def _axes_for(self, shapes):
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        return [a % len(s) for a, s in zip(pair, shapes)]

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{layer_label(self)}: expected a list of exactly 2 inputs, got {len(input_shape)}.")
        a, b = (list(s) for s in input_shape)
        if len(a) < 2 or len(b) < 2:
            raise ValueError(f"{layer_label(self)}: both inputs need a batch axis and at least one more, got "
                             f"{fmt_shape(a)} and {fmt_shape(b)}.")
        ax, bx = self._axes_for((a, b))
        if 0 in (ax, bx):
            raise ValueError(f"{layer_label(self)}: axes={self.axes!r} includes the batch axis 0; choose axes "
                             f"of the samples (1 and up).")
        if a[ax] is not None and b[bx] is not None and a[ax] != b[bx]:
            raise ValueError(
                f"{layer_label(self)}: the dot axes must have the same size, got {a[ax]} (axis {ax} of "
                f"{fmt_shape(a)}) and {b[bx]} (axis {bx} of {fmt_shape(b)}).")
        out = a[:ax] + a[ax + 1:] + [d for i, d in enumerate(b) if i not in (0, bx)]
        return tuple(out) if len(out) > 1 else (out[0], 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            self._check_list(type(inputs).__name__)
        out_shape = self.compute_output_shape(_shapes(inputs))
        a, b = inputs
        ax, bx = self._axes_for((a.shape, b.shape))
        if self.normalize:
            a, b = F.normalize(a, dim=ax, eps=1e-7), F.normalize(b, dim=bx, eps=1e-7)
        B, K = a.shape[0], a.shape[ax]
        a2 = a.movedim(ax, -1).reshape(B, -1, K)  # (B, M..., K) -> (B, M, K)
        b2 = b.movedim(bx, 1).reshape(B, K, -1)  # (B, K, N...) -> (B, K, N)
        return torch.bmm(a2, b2).reshape((B,) + tuple(out_shape[1:]))  # (B, M, N) -> (B, M..., N...)


# ---------------------------------------------------------------- functional forms
def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the sum of a list of tensors."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the element-wise product of a list of tensors."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the element-wise mean of a list of tensors."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the element-wise maximum of a list of tensors."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the element-wise minimum of a list of tensors."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``: the inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """``Dot(axes, **kwargs)(inputs)``: the per-sample dot product of two tensors."""
    return Dot(axes=axes, **kwargs)(inputs)


__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
