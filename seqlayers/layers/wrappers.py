"""Wrappers: the ``Wrapper`` base (a layer that holds another layer) and TimeDistributed (the same
module at every time step).

``Bidirectional`` lives in ``bidirectional.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import fmt_shape, layer_label
from .base import InputSpec, Layer, shape_by_running
from .core import Dense


class Wrapper(Layer):
    """A layer that holds another layer as ``self.layer``: the base of ``TimeDistributed`` and of the
    wrappers users write (as ``keras.layers.Wrapper``).

    ``build`` builds the wrapped layer from the same input shape, its weights are the wrapper's, and
    ``get_config`` saves it nested (``from_config`` rebuilds it). A subclass overrides ``call`` (and
    ``compute_output_shape`` when the shape changes); the base ``call`` runs the wrapped layer unchanged,
    passing the mask on (Keras's base has no ``call``).

    Args:
        layer: the layer to wrap (a seqlayers layer or any ``torch.nn.Module``).

    Shape:
        input: what ``layer`` takes.
        output: what ``layer`` returns (the base ``call``); a subclass documents its own.
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"{type(self).__name__}: expected a layer (a torch.nn.Module) to wrap, got {type(layer).__name__}. "
                f"Write {type(self).__name__}(Dense(3)), not {type(self).__name__}(3)."
            )
        self.layer = layer

    def build(self, input_shape):
        if isinstance(self.layer, Layer):
            self.layer.build_from_shape(tuple(input_shape))

    def compute_output_shape(self, input_shape):
        if isinstance(self.layer, Layer):
            return self.layer.compute_output_shape(tuple(input_shape))
        return shape_by_running(self.layer, tuple(input_shape))[0]

    @property
    def weights(self):
        return self.layer.weights if isinstance(self.layer, Layer) else list(self.layer.parameters())

    def call(self, inputs, mask=None, training=None):
        if isinstance(self.layer, Layer):
            return self.layer(inputs, mask=mask, training=training)
        return self.layer(inputs)


class TimeDistributed(Wrapper):
    """Apply ``layer`` to every time step, with the same weights at every step.

    The time axis is folded into the batch, ``(B, T, ...) -> (B*T, ...)``, the wrapped module runs
    once, and the result is unfolded: one call, never a Python loop over steps. ``layer`` may be
    any module: a ``Dense`` (the per-step classifier after an ``LSTM(return_sequences=True)``), a
    ``Sequential``, a nested ``TimeDistributed``, or a recurrent layer (a per-utterance encoder in a
    hierarchical model, where the input is ``(B, turns, words, F)``).

    Masks: a mask with more axes than ``(B, T)`` (e.g. ``(B, turns, words)`` from an ``Embedding``
    inside) is folded the same way and handed to the wrapped layer; on per-step vectors ``(B, T, F)``
    the ``(B, T)`` mask is handed on as ``(B*T,)`` (a wrapped layer whose ``call`` takes ``mask`` sees
    which rows are padding, as in Keras). The output mask is the wrapped
    layer's own mask unfolded (its ``compute_mask`` gets the same folded inputs and mask as its ``call``),
    or else the outer ``(B, T)`` mask (a turn is valid when any of its words is). Keras 3 returns the
    mask it was given and never asks the wrapped layer: the two agree when the wrapped layer keeps the
    mask it gets at the valid steps (``Dense``, ``Dropout``); a layer that makes a mask of its own inside
    (``Embedding(mask_zero=True)`` over the words of each turn; tf.keras 2 unfolded it too) has none in Keras 3.

    Args:
        layer: the module to apply at every step.

    Shape:
        input: ``(B, T, ...)`` (at least 3 axes)
        output: ``(B, T, *layer_output_shape)``; e.g. ``(B, T, F) -> (B, T, H)`` for ``Dense(H)``.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.input_spec = InputSpec(min_ndim=3, expected="input of shape (batch, time, ...) with at least 3 axes",
                                    hint="A 2-D input usually means the previous recurrent layer needs "
                                         "return_sequences=True (TimeDistributed applies a layer to every time step).")

    def build(self, input_shape):
        super().build((None,) + tuple(input_shape[2:]))  # the wrapped layer sees one step: (B*T, ...)

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        out = super().compute_output_shape((None,) + tuple(input_shape[2:]))  # one step's output shape
        if isinstance(out, list):
            raise ValueError(f"{layer_label(self)}: the wrapped layer returns several outputs "
                             f"(return_state=True?); TimeDistributed needs exactly one.")
        return (B, T) + tuple(out[1:])

    def compute_output_dtype(self, input_dtype):
        return self.layer.compute_output_dtype(input_dtype) if isinstance(self.layer, Layer) else input_dtype

    def _fold_mask(self, mask, B, T, input_ndim=None):
        if mask is None or mask.dim() < 2:
            return None
        if mask.dim() == 2 and input_ndim != 3:
            return None  # (B, T) over inner sequences (B, T, words, F): it says nothing about the words
        return mask.reshape(B * T, *mask.shape[2:])  # (B, T, ...) -> (B*T, ...); per-step inputs: (B*T,)

    def _check_mask(self, mask, B, T):
        if mask is not None and isinstance(mask, torch.Tensor) and tuple(mask.shape[:2]) != (B, T):
            raise ValueError(f"{layer_label(self)}: expected a mask of shape (batch, time) = ({B}, {T}) matching "
                             f"the input, got {fmt_shape(mask.shape)}. Build the mask from the same batch "
                             f"(e.g. x_ids != 0 for padded token ids).")

    def call(self, inputs, mask=None, training=None):
        B, T = inputs.shape[:2]
        if mask is not None:
            self._check_mask(mask, B, T)
        layer = self._modules["layer"]  # (read once, not through nn.Module.__getattr__)
        time_major = _time_major(inputs, layer)
        if time_major is not None:
            return self._call_time_major(layer, time_major, mask, training)
        x = inputs.reshape(B * T, *inputs.shape[2:])  # fold time into batch
        if isinstance(layer, Layer):
            y = layer(x, mask=self._fold_mask(mask, B, T, inputs.dim()), training=training)
        else:
            y = layer(x)
        if not isinstance(y, torch.Tensor):
            raise ValueError(f"{layer_label(self)}: the wrapped layer returned {type(y).__name__}; "
                             f"TimeDistributed needs a single tensor (set return_state=False).")
        return y.reshape(B, T, *y.shape[1:])  # unfold: (B*T, ...) -> (B, T, ...)

    def _call_time_major(self, layer, inputs_tb, mask, training):
        """A ``Dense`` on the ``(B, T, F)`` view of time-major storage (what the fused recurrent kernels
        return), given as that storage ``(T, B, F)``: fold ``(T, B)`` instead, so neither the input nor
        its gradient is copied; every row gets the same product as in the batch-major fold."""
        T, B, F = inputs_tb.shape
        x = inputs_tb.reshape(T * B, F)  # contiguous (T, B, F) -> (T*B, F): a view
        folded = None if mask is None or mask.dim() != 2 else mask.transpose(0, 1).reshape(T * B)  # (T*B,)
        y = layer(x, mask=folded, training=training)  # (T*B, H)
        return y.reshape(T, B, -1).transpose(0, 1)  # (B, T, H) view of time-major storage

    def compute_mask(self, inputs, mask=None):
        B, T = inputs.shape[:2]
        inner = None
        layer = self._modules["layer"]
        if isinstance(layer, Layer):
            # the wrapped layer's compute_mask gets the mask call() hands the layer: on per-step vectors
            # (B, T, F) the (B, T) mask as (B*T,), beside the folded (B*T, F) inputs. The base compute_mask
            # reads no input (it passes the mask on or stops it): skip folding (copying) the inputs for it
            x = inputs if layer._base_compute_mask else inputs.reshape(B * T, *inputs.shape[2:])
            inner = layer.compute_mask(x, self._fold_mask(mask, B, T, inputs.dim()))
        if inner is not None:
            return inner.reshape(B, T, *inner.shape[1:])
        if mask is None:
            return None
        while mask.dim() > 2:
            mask = mask.any(dim=-1)  # a step is valid when any of its inner steps is
        return mask


def _time_major(x: torch.Tensor, layer) -> torch.Tensor | None:
    """That storage ``(T, B, F)`` when ``x`` ``(B, T, F)`` is a view of contiguous time-major storage and
    ``layer`` is a ``Dense`` (its rows are independent, whatever order they come in); else None."""
    if type(layer) is not Dense or x.dim() != 3 or x.shape[0] <= 1 or x.is_contiguous():
        return None
    x_tb = x.transpose(0, 1)  # (T, B, F)
    return x_tb if x_tb.is_contiguous() else None


class TimeDistributedDense(TimeDistributed):
    """Keras 1's ``TimeDistributedDense(units)``: the same as ``TimeDistributed(Dense(units))``.

    Kept as a thin alias because old tutorials (seeds 002 and 004) use it. Today's Keras (and
    seqlayers) ``Dense`` on a 3-D input does the same.

    Args:
        units, activation, use_bias, kernel_initializer, bias_initializer: as for ``Dense``.

    Shape:
        input: ``(B, T, F)``; output: ``(B, T, H)``.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(Dense(units, activation=activation, use_bias=use_bias,
                               kernel_initializer=kernel_initializer, bias_initializer=bias_initializer), **kwargs)


__all__ = ["TimeDistributed", "TimeDistributedDense", "Wrapper"]
