"""Regularization layers that act only in training: SpatialDropout1D, GaussianNoise, GaussianDropout.

(Plain ``Dropout`` is in core.py.) In inference (``model.eval()``, ``training=False``) each one
returns its input unchanged. All keep the shape and pass the mask on.
"""
from __future__ import annotations

import math
import numbers

import torch

from .base import InputSpec, Layer
from .core import Dropout


def _fraction(layer: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{layer}: {arg} must be a number in [0, 1], got {value!r}.")
    return float(value)


class SpatialDropout1D(Dropout):
    """Dropout of whole feature channels: one draw per sample and feature, shared by every step.

    Where neighbouring steps are strongly correlated (after a Conv1D, an Embedding), dropping a
    feature at every step regularizes where dropping single values would not.

    Args:
        rate: the fraction of features to drop (each kept one is scaled by ``1 / (1 - rate)``).
        seed: accepted for Keras compatibility (torch's global generator is used; see ``set_seed``).

    Shape:
        input and output: ``(B, T, F)``; the dropout mask has shape ``(B, 1, F)``.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, noise_shape=None, seed=seed, **kwargs)
        self._config.pop("noise_shape", None)
        self.input_spec = InputSpec(ndim=3, expected="input of shape (batch, time, features)")

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        B, _, F = inputs.shape
        keep = torch.empty((B, 1, F), device=inputs.device, dtype=inputs.dtype).bernoulli_(1.0 - self.rate)
        return inputs * keep / (1.0 - self.rate)  # (B, T, F) * (B, 1, F): the same mask at every step


class _TrainingOnly(Layer):
    supports_masking = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)  # no weights and no build of its own: Layer builds it at construction

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class GaussianNoise(_TrainingOnly):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` during training.

    Args:
        stddev: the noise's standard deviation, in [0, 1] (as Keras checks).
        seed: accepted for Keras compatibility (torch's global generator is used).

    Shape:
        input and output: ``(B, ...)``, unchanged.
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _fraction("GaussianNoise", "stddev", stddev)
        self.seed = seed

    def call(self, inputs, training=None):
        if not training or self.stddev == 0.0:
            return inputs
        return inputs + torch.randn_like(inputs) * self.stddev


class GaussianDropout(_TrainingOnly):
    """Multiply by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))``
    during training (the expectation is unchanged, as with Dropout).

    Args:
        rate: the equivalent dropout rate, in [0, 1].
        seed: accepted for Keras compatibility (torch's global generator is used).

    Shape:
        input and output: ``(B, ...)``, unchanged.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _fraction("GaussianDropout", "rate", rate)
        self.seed = seed

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * (1.0 + torch.randn_like(inputs) * stddev)


__all__ = ["SpatialDropout1D", "GaussianNoise", "GaussianDropout"]
