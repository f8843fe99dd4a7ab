"""Pooling over time: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D.

``padding="same"`` gives ``ceil(T / strides)`` windows; the windows that run past the sequence use
only its real steps (a maximum or a mean over the steps inside it), as Keras documents.
As in Keras, ``GlobalAveragePooling1D`` averages only the valid (unmasked) steps, while the other
pooling layers take no mask; none of them passes a mask on.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..utils import to_tensor
from .base import InputSpec, Layer
from .convolutional import conv_output_length, data_format_arg, one_int, padding_arg, same_padding


class _Pooling1D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size = one_int(name, "pool_size", pool_size)
        self.strides = one_int(name, "strides", strides) if strides is not None else self.pool_size
        self.padding = padding_arg(name, padding, ("valid", "same"))
        self.data_format = data_format_arg(name, data_format)
        self.input_spec = InputSpec(ndim=3, dtype="float", expected="input of shape (batch, time, features)")

    def compute_output_shape(self, input_shape):
        t = 1 if self.data_format == "channels_last" else 2
        out = list(input_shape)
        out[t] = conv_output_length(input_shape[t], self.pool_size, self.padding, self.strides)
        return tuple(out)

    def call(self, inputs):
        x = inputs.transpose(1, 2) if self.data_format == "channels_last" else inputs  # (B, T, F) -> (B, F, T)
        if self.padding == "same":
            left, right = same_padding(x.shape[-1], self.pool_size, self.strides)
        else:
            left, right = 0, 0
        y = self.pool(x, left, right)
        return y.transpose(1, 2) if self.data_format == "channels_last" else y


class MaxPooling1D(_Pooling1D):
    """The maximum of each window of ``pool_size`` steps, every ``strides`` steps.

    Args:
        pool_size: the window length (default 2).
        strides: the step between windows (default: ``pool_size``).
        padding: ``"valid"`` (only full windows) or ``"same"`` (``ceil(T / strides)`` windows).
        data_format: ``"channels_last"`` (B, T, F) (default) or ``"channels_first"`` (B, F, T).

    Shape:
        input: ``(B, T, F)``; output: ``(B, T', F)``. No weights, no mask.
    """

    def pool(self, x, left, right):
        if left or right:
            x = F.pad(x, (left, right), value=float("-inf"))  # padding never wins
        return F.max_pool1d(x, self.pool_size, self.strides)


class AveragePooling1D(_Pooling1D):
    """The mean of each window of ``pool_size`` steps, every ``strides`` steps (padding not counted).

    Args:
        pool_size: the window length (required, as in Keras).
        strides, padding, data_format: as ``MaxPooling1D``.

    Shape:
        input: ``(B, T, F)``; output: ``(B, T', F)``. No weights, no mask.
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def pool(self, x, left, right):
        if not (left or right):
            return F.avg_pool1d(x, self.pool_size, self.strides)
        total = F.avg_pool1d(F.pad(x, (left, right)), self.pool_size, self.strides)
        ones = torch.ones((1, 1, x.shape[-1]), dtype=x.dtype, device=x.device)
        share = F.avg_pool1d(F.pad(ones, (left, right)), self.pool_size, self.strides)  # real steps / pool_size
        return total / share


class _GlobalPooling1D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=3, dtype="float", expected="input of shape (batch, time, features)",
                                    hint="Global pooling reduces the time axis of a sequence; a recurrent "
                                         "layer before it needs return_sequences=True.")

    @property
    def _time_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        if self.keepdims:
            out[self._time_axis] = 1
        else:
            del out[self._time_axis]
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over all time steps (as in Keras, a mask is not taken into account).

    Args:
        data_format: ``"channels_last"`` (B, T, F) (default) or ``"channels_first"`` (B, F, T).
        keepdims: keep the time axis with size 1.

    Shape:
        input: ``(B, T, F)``; output: ``(B, F)`` (``(B, 1, F)`` with keepdims). No weights.
    """

    def call(self, inputs):
        return inputs.amax(dim=self._time_axis, keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over the valid time steps: with a mask, padded steps are left out of the mean.

    Args:
        data_format: ``"channels_last"`` (B, T, F) (default) or ``"channels_first"`` (B, F, T).
        keepdims: keep the time axis with size 1.

    Shape:
        input: ``(B, T, F)`` with an optional mask ``(B, T)``; output: ``(B, F)`` (``(B, 1, F)`` with
        keepdims). No weights, no output mask.
    """

    supports_masking = True

    def call(self, inputs, mask=None):
        t = self._time_axis
        if mask is None:
            return inputs.mean(dim=t, keepdim=self.keepdims)
        if not isinstance(mask, torch.Tensor):
            mask = to_tensor(np.asarray(mask))  # NumPy masks, as Keras takes them
        keep = mask.bool().unsqueeze(2 if t == 1 else 1)  # (B, T, 1) or (B, 1, T)
        total = torch.where(keep, inputs, torch.zeros((), dtype=inputs.dtype, device=inputs.device))
        count = keep.to(inputs.dtype).sum(dim=t, keepdim=self.keepdims)
        return total.sum(dim=t, keepdim=self.keepdims) / count


__all__ = ["MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D"]
