"""LayerNormalization and BatchNormalization, as Keras's (same weights, same epsilon, same masks).

Both pass their input's mask on. ``BatchNormalization`` with a mask computes the batch statistics
over the valid steps only during training, as Keras does.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import initializers
from ..errors import layer_label
from ..utils import to_tensor
from .base import InputSpec, Layer


def _axes_arg(layer: str, axis) -> list[int]:
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"{layer}: axis must be an integer or a list of integers, got {axis!r}.")
    return axes


def _scale_or_shift(layer, name: str, shape):
    """gamma or beta, with its initializer, regularizer and constraint from the layer's config."""
    cfg = layer._config
    return layer.add_weight(shape, cfg[f"{name}_initializer"], regularizer=cfg[f"{name}_regularizer"],
                            constraint=cfg[f"{name}_constraint"], name=name)


def _renorm_clipping(clipping) -> dict:
    clipping = dict(clipping or {})
    if set(clipping) - {"rmax", "rmin", "dmax"}:
        raise ValueError(f"BatchNormalization: renorm_clipping takes the keys rmax, rmin, dmax; received invalid keys "
                         f"in {clipping}.")
    rmin, rmax, dmax = clipping.get("rmin"), clipping.get("rmax"), clipping.get("dmax")
    if rmin is not None and rmax is not None and rmax < rmin:
        raise ValueError(f"BatchNormalization: renorm_clipping rmax should be greater than rmin, got {clipping}.")
    if dmax is not None and dmax < 0:
        raise ValueError(f"BatchNormalization: renorm_clipping dmax should be non-negative, got {clipping}.")
    return clipping


def _resolved(layer, axes: list[int], ndim: int) -> list[int]:
    out = sorted(a % ndim for a in axes)
    if any(not -ndim <= a < ndim for a in axes) or 0 in out:
        raise ValueError(f"{layer_label(layer)}: axis {axes} is out of range for an input with {ndim} dimensions "
                         f"(the batch axis 0 cannot be normalized over).")
    return out


class LayerNormalization(Layer):
    """Normalize each sample over ``axis`` (default: its features) to mean 0 and variance 1, then
    scale by ``gamma`` and shift by ``beta``: ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta``.

    Runs torch's fused ``layer_norm`` when the axes are the last ones.

    Args:
        axis: the axis (or list of axes) to normalize over, default -1.
        epsilon: added to the variance (Keras's default 1e-3).
        center: learn ``beta``; scale: learn ``gamma``.
        rms_scaling: Keras's deprecated option: ``x / sqrt(var + epsilon) * gamma`` (no mean
            subtraction, no beta).
        beta_initializer, gamma_initializer: Keras initializer names.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as ``Dense``'s.

    Shape:
        input and output: ``(B, ..., F)``; the mask passes through.
        weights (Keras layout): gamma and beta of the normalized axes' sizes (``(F,)`` for axis -1).
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_arg("LayerNormalization", axis)
        self.epsilon = float(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        initializers.get(beta_initializer, "LayerNormalization")
        initializers.get(gamma_initializer, "LayerNormalization")
        self.input_spec = InputSpec(min_ndim=2, dtype="float", expected="input of shape (batch, ..., features)")

    def build(self, input_shape):
        axes = _resolved(self, self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(f"{layer_label(self)}: the normalized axes {self.axis} must have known sizes, got "
                             f"input shape {tuple(input_shape)}.")
        self.gamma = _scale_or_shift(self, "gamma", shape) if (self.scale or self.rms_scaling) else None
        self.beta = _scale_or_shift(self, "beta", shape) if (self.center and not self.rms_scaling) else None
        self._axes = axes
        self._normalized_shape = shape  # Python ints, so traced graphs (ONNX) keep them constant
        self.input_spec.axes = {a: input_shape[a] for a in axes}

    @property
    def weights(self):
        return [w for w in (self.gamma, self.beta) if w is not None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _broadcast(self, w, ndim):
        shape = [1] * ndim
        for a, d in zip(self._axes, w.shape):
            shape[a] = d
        return w.reshape(shape)

    def call(self, inputs):
        ndim, axes = inputs.dim(), self._axes
        if self.rms_scaling:
            var = inputs.var(dim=axes, keepdim=True, unbiased=False)
            out = inputs * torch.rsqrt(var + self.epsilon)
            return out * self._broadcast(self.gamma, ndim) if self.gamma is not None else out
        if axes == list(range(ndim - len(axes), ndim)):  # trailing axes: torch's fused kernel
            return F.layer_norm(inputs, self._normalized_shape, self.gamma, self.beta, self.epsilon)
        mean = inputs.mean(dim=axes, keepdim=True)
        var = inputs.var(dim=axes, keepdim=True, unbiased=False)
        out = (inputs - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            out = out * self._broadcast(self.gamma, ndim)
        if self.beta is not None:
            out = out + self._broadcast(self.beta, ndim)
        return out


class BatchNormalization(Layer):
    """Normalize each feature with statistics of the batch (training) or their moving averages
    (inference), then scale by ``gamma`` and shift by ``beta``, as Keras's ``BatchNormalization``.

    In training (``model.train()`` / ``training=True``, and the layer trainable) the output uses the
    batch's mean and (biased) variance over every axis but ``axis`` (over valid steps only when the
    input is masked) and the moving statistics are updated:
    ``moving = moving * momentum + batch * (1 - momentum)``. In inference, and always when
    ``trainable=False`` (Keras's rule for fine-tuning), it uses the moving statistics.

    Args:
        axis: the feature axis (default -1).
        momentum: of the moving averages (0.99).
        epsilon: added to the variance (1e-3).
        center, scale: learn beta / gamma.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            Keras initializer names.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as ``Dense``'s.
        renorm, renorm_clipping (``{"rmax", "rmin", "dmax"}``), renorm_momentum: batch
            renormalization (Ioffe 2017), as Keras: in training the output is corrected by
            ``r = std / renorm_std`` and ``d = (mean - renorm_mean) / renorm_std`` (clipped, no gradient).
        synchronized: accepted for Keras compatibility; statistics are per process.

    Shape:
        input and output: ``(B, ..., F)``; the mask passes through.
        weights (Keras order): gamma ``(F,)``, beta ``(F,)``, moving_mean ``(F,)``, moving_variance ``(F,)``
        [, moving_stddev, renorm_mean, renorm_stddev ``(F,)`` with renorm] (the statistics are
        non-trainable buffers; all count as parameters, as in Keras).
    """

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: axis must be an integer, got {axis!r}.")
        self.renorm = bool(renorm)
        self.renorm_clipping = _renorm_clipping(renorm_clipping) if self.renorm else renorm_clipping
        self.renorm_momentum = float(renorm_momentum)
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        for init in (beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer):
            initializers.get(init, "BatchNormalization")
        self.input_spec = InputSpec(min_ndim=2, dtype="float", expected="input of shape (batch, ..., features)")

    def build(self, input_shape):
        ax = _resolved(self, [self.axis], len(input_shape))[0]
        C = input_shape[ax]
        if C is None:
            raise ValueError(f"{layer_label(self)}: axis {self.axis} (the features) must have a known size, got "
                             f"input shape {tuple(input_shape)}.")
        cfg = self._config

        def init(name):
            return initializers.initialize(torch.empty(C), cfg[name])

        self.gamma = _scale_or_shift(self, "gamma", (C,)) if self.scale else None
        self.beta = _scale_or_shift(self, "beta", (C,)) if self.center else None
        self.register_buffer("moving_mean", init("moving_mean_initializer"))
        self.register_buffer("moving_variance", init("moving_variance_initializer"))
        if self.renorm:  # batch renormalization keeps standard deviations, as Keras (and the paper)
            self.register_buffer("moving_stddev", init("moving_variance_initializer").sqrt())
            self.register_buffer("renorm_mean", init("moving_mean_initializer"))
            self.register_buffer("renorm_stddev", init("moving_variance_initializer").sqrt())
        self._axis = ax
        self.input_spec.axes = {ax: C}

    @property
    def weights(self):
        extra = (self.moving_stddev, self.renorm_mean, self.renorm_stddev) if self.renorm else ()
        return [w for w in (self.gamma, self.beta, self.moving_mean, self.moving_variance) + extra if w is not None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _moments(self, x, mask, reduce):
        if mask is None:
            return x.mean(dim=reduce), x.var(dim=reduce, unbiased=False)
        if mask.dim() != x.dim() - 1:
            raise ValueError(f"{layer_label(self)}: expected a mask with one dimension less than the input "
                             f"{tuple(x.shape)}, got {tuple(mask.shape)}.")
        keep = mask.bool().unsqueeze(-1).expand(x.shape)
        weight = keep.to(x.dtype).sum(dim=reduce, keepdim=True) + 1e-7
        mean = torch.where(keep, x, 0.0).sum(dim=reduce, keepdim=True) / weight
        var = torch.where(keep, x - mean, 0.0).square().sum(dim=reduce, keepdim=True) / weight
        return mean.reshape(-1), var.reshape(-1)

    def call(self, inputs, training=None, mask=None):
        if mask is not None and not isinstance(mask, torch.Tensor):
            mask = to_tensor(np.asarray(mask))  # NumPy masks, as Keras takes them
        ax = self._axis
        reduce = [d for d in range(inputs.dim()) if d != ax]
        gamma, beta = self.gamma, self.beta
        if training and self.trainable:
            mean, var = self._moments(inputs, mask, reduce)
            if self.renorm:
                gamma, beta = self._renormalized(mean, var)
            else:
                with torch.no_grad():
                    m = self.momentum
                    self.moving_mean.mul_(m).add_(mean.detach().to(self.moving_mean.dtype), alpha=1.0 - m)
                    self.moving_variance.mul_(m).add_(var.detach().to(self.moving_variance.dtype), alpha=1.0 - m)
        else:
            mean, var = self.moving_mean, self.moving_variance
        shape = [1] * inputs.dim()
        shape[ax] = -1  # (F,) -> broadcast on the feature axis
        inv = torch.rsqrt(var + self.epsilon)
        if gamma is not None:
            inv = inv * gamma
        out = inputs * inv.reshape(shape) - (mean * inv).reshape(shape)
        return out + beta.reshape(shape) if beta is not None else out

    def _renormalized(self, mean, var):
        """Batch renormalization: the (r, d) correction folded into gamma and beta, then the statistics
        updated (``moving_variance`` derived from ``moving_stddev``)."""
        with torch.no_grad():
            std = torch.sqrt(var.detach() + self.epsilon)
            renorm_std = torch.clamp(self.renorm_stddev, min=self.epsilon ** 0.5)
            r = std / renorm_std
            d = (mean.detach() - self.renorm_mean) / renorm_std
            clip = self.renorm_clipping
            if clip.get("rmin") is not None:
                r = torch.clamp(r, min=clip["rmin"])
            if clip.get("rmax") is not None:
                r = torch.clamp(r, max=clip["rmax"])
            if clip.get("dmax") is not None:
                d = torch.clamp(d, -clip["dmax"], clip["dmax"])
            rm, m = self.renorm_momentum, self.momentum
            self.renorm_mean.mul_(rm).add_(mean.detach(), alpha=1.0 - rm)
            self.renorm_stddev.mul_(rm).add_(std, alpha=1.0 - rm)
            self.moving_mean.mul_(m).add_(mean.detach(), alpha=1.0 - m)
            self.moving_stddev.mul_(m).add_(std, alpha=1.0 - m)
            self.moving_variance.copy_(torch.relu(self.moving_stddev.square() - self.epsilon))
        gamma = r * self.gamma if self.gamma is not None else r
        beta = d * self.gamma if self.gamma is not None else d
        return gamma, beta + self.beta if self.beta is not None else beta


__all__ = ["LayerNormalization", "BatchNormalization"]
