"""Instance normalisation of a series and its inverse (RevIN, Kim et al. ICLR 2022).

    z, loc, scale = InstanceNormalization(return_statistics=True)(x)   # each window to mean 0, std 1
    y = ...(z)                                                         # the model forecasts normalised values
    y = InverseInstanceNormalization()([y, loc, scale])               # y * scale + loc: back to x's units

Each sample's series is normalised with its own statistics over the time axis, per feature, and
the forecast is mapped back with the same statistics: a shift in level between the training and
the test windows no longer has to be learnt. The statistics travel as tensors from one layer to the
other, so the inverse has no state of its own. ``location="last"`` with ``scale=False`` is the
"subtract the last value" of NLinear and SegRNN.

With ``affine=True`` the normalised series is also scaled by ``gamma`` and shifted by ``beta`` (one
per feature, learnt); the returned ``loc`` and ``scale`` include them, so that always
``z = (x - loc) / scale`` and the inverse is ``y * scale + loc``.
"""
from __future__ import annotations

import torch

from ..errors import fmt_shape, layer_label
from .base import InputSpec, Layer

LOCATIONS = ("mean", "last", None)


class InstanceNormalization(Layer):
    """Normalise each sample over the time axis, per feature: ``z = (x - loc) / scale``.

    Args:
        location: ``"mean"`` (the sample's mean over time, RevIN), ``"last"`` (its last step) or
            ``None`` (no shift).
        scale: divide by the sample's standard deviation over time (population, ``sqrt(var + epsilon)``).
        affine: learn ``gamma`` and ``beta`` (``(F,)``) applied after normalising (RevIN's affine).
        epsilon: added to the variance (RevIN's 1e-5).
        return_statistics: also return ``loc`` and ``scale``, for ``InverseInstanceNormalization``.

    Shape:
        input: ``(B, T, F)``.
        output: ``(B, T, F)``; with ``return_statistics``, ``[z (B, T, F), loc (B, 1, F), scale (B, 1, F)]``.
        weights: gamma ``(F,)`` and beta ``(F,)`` with ``affine``. The statistics carry no gradient
        back to the input (as RevIN: they are detached).
    """

    def __init__(self, location="mean", scale=True, affine=False, epsilon=1e-5, return_statistics=False, **kwargs):
        super().__init__(**kwargs)
        if location not in LOCATIONS:
            raise ValueError(f"InstanceNormalization: location must be 'mean', 'last' or None, got {location!r}.")
        self.location, self.scale, self.affine = location, bool(scale), bool(affine)
        self.epsilon = float(epsilon)
        self.return_statistics = bool(return_statistics)
        self.input_spec = InputSpec(ndim=3, dtype="float", expected="input of shape (batch, time, features)",
                                    hint="InstanceNormalization normalises each series over its time axis.")

    def build(self, input_shape):
        F = input_shape[-1]
        if self.affine:
            if F is None:
                raise ValueError(f"{layer_label(self)}: affine=True needs a known number of features, got input "
                                 f"shape {fmt_shape(input_shape)}. Give the input a fixed feature size, e.g. "
                                 f"Input(shape=(None, 16)), or use affine=False.")
            self.gamma = self.add_weight((F,), "ones", name="gamma")
            self.beta = self.add_weight((F,), "zeros", name="beta")
        self.input_spec.axes = {-1: F}

    def compute_output_shape(self, input_shape):
        if not self.return_statistics:
            return tuple(input_shape)
        stat = (input_shape[0], 1, input_shape[2])
        return [tuple(input_shape), stat, stat]

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, scale)`` of ``x`` ``(B, T, F)``, each ``(B, 1, F)``, the affine part included."""
        x = x.detach()
        if self.location == "mean":
            loc = x.mean(dim=1, keepdim=True)
        elif self.location == "last":
            loc = x[:, -1:, :]
        else:
            loc = torch.zeros_like(x[:, :1])
        scale = (torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.epsilon) if self.scale
                 else torch.ones_like(loc))
        if self.affine:  # z = (x - loc) / scale * gamma + beta  =  (x - loc') / scale'
            gamma = self.gamma + self.epsilon ** 2  # RevIN keeps the inverse finite this way
            loc = loc - self.beta * scale / gamma
            scale = scale / gamma
        return loc, scale

    def call(self, inputs):
        loc, scale = self.statistics(inputs)
        z = (inputs - loc) / scale  # (B, T, F)
        return [z, loc, scale] if self.return_statistics else z


class InverseInstanceNormalization(Layer):
    """Undo :class:`InstanceNormalization` with the statistics it returned: ``y * scale + loc``.

    Args:
        (none besides the base layer's; it has no weights: ``loc`` and ``scale`` are inputs)

    Shape:
        input: ``[y (B, H, F), loc (B, 1, F), scale (B, 1, F)]``; ``H`` may differ from the normalised
        series' length (a forecast of H steps).
        output: ``(B, H, F)``.
    """

    def compute_output_shape(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
                and all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise ValueError(f"{layer_label(self)}: expected three inputs [y, loc, scale] (the statistics "
                             f"InstanceNormalization(return_statistics=True) returns), got {input_shape!r}.")
        return tuple(input_shape[0])

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 3:
            raise ValueError(f"{layer_label(self)}: expected three inputs [y, loc, scale], got "
                             f"{type(inputs).__name__}. Pass the outputs of "
                             f"InstanceNormalization(return_statistics=True).")
        y, loc, scale = inputs
        return y * scale + loc  # (B, H, F) * (B, 1, F) + (B, 1, F)


__all__ = ["InstanceNormalization", "InverseInstanceNormalization"]
