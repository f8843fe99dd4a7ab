"""Losses that respect time and masks, reduced exactly as Keras 3 reduces them.

A loss is computed in two steps, as in Keras:

1. ``loss.call(y_true, y_pred)`` gives one value per sample *and per time step*: the last axis
   (features / classes) is averaged or summed away, so a ``(B, T, F)`` output gives ``(B, T)``
   values and a ``(B, F)`` output gives ``(B,)``.
2. ``reduce_weighted(values, sample_weight, mask)`` multiplies by the sample weights (per sample
   ``(B,)`` or per step ``(B, T)``) and by the mask, and divides the weighted sum by the number of
   *valid* values (Keras 3's ``"sum_over_batch_size"`` with a mask)::

       loss = sum(values * sample_weight * mask) / sum(mask)          # mask given
       loss = sum(values * sample_weight) / values.numel()            # no mask

   Sample weights are not normalised by their sum (as in Keras). Padded steps (the mask attached
   to the model's output by ``Embedding(mask_zero=True)``/``Masking``, read with ``get_mask``)
   contribute nothing.

Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` with Keras's ``EPSILON = 1e-7`` before the
logarithm; ``from_logits=True`` uses the numerically stable log-softmax / log-sigmoid forms.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import fmt_shape, unknown_name_error
from ..layers.base import get_mask

EPSILON = 1e-7


# ---------------------------------------------------------------- reduction
def align_ranks(a: torch.Tensor, b: torch.Tensor):
    """Keras's ``squeeze_or_expand_to_same_rank``: drop a trailing axis of size 1 when ranks differ by one."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        a = a.squeeze(-1)
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        b = b.squeeze(-1)
    return a, b


def _expand_like(w: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Bring weights (or a mask) to the rank of ``values``: ``(B,)`` -> ``(B, 1)`` for ``(B, T)`` values."""
    values_, w = align_ranks(values, w)
    while w.ndim < values.ndim:
        w = w.unsqueeze(-1)  # per-sample weight, the same at every time step
    if w.ndim > values.ndim:
        raise ValueError(
            f"sample_weight of shape {fmt_shape(w.shape)} has more axes than the per-step losses "
            f"{fmt_shape(values.shape)}. Give one weight per sample (B,) or per time step (B, T)."
        )
    for a, b in zip(w.shape, values.shape):
        if a not in (1, b):
            raise ValueError(
                f"sample_weight of shape {fmt_shape(w.shape)} does not fit the per-step losses of shape "
                f"{fmt_shape(values.shape)}. Give one weight per sample (B,) or per time step (B, T)."
            )
    return w


def weights_and_mask(values: torch.Tensor, sample_weight=None, mask=None):
    """The combined weight of every value (``sample_weight * mask``, broadcast to ``values``) or None."""
    w = None
    if sample_weight is not None:
        w = _expand_like(torch.as_tensor(sample_weight, device=values.device).to(values.dtype), values)
    if mask is not None:
        m = _expand_like(mask.to(device=values.device, dtype=values.dtype), values)
        w = m if w is None else w * m
    return None if w is None else torch.broadcast_to(w, values.shape)


def reduce_weighted(values: torch.Tensor, sample_weight=None, mask=None) -> torch.Tensor:
    """Keras 3 ``sum_over_batch_size``: weighted sum over the valid (unmasked) values / their count."""
    w = weights_and_mask(values, sample_weight, None)
    if w is not None:
        values = values * w
    if mask is not None:
        m = torch.broadcast_to(_expand_like(mask.to(device=values.device, dtype=values.dtype), values), values.shape)
        valid = m.sum()
        total = (values * m).sum()
        return torch.where(valid > 0, total / valid.clamp_min(1e-12), 0.0)  # 0 when nothing is valid
    if values.numel() == 0:
        return values.sum()
    return values.sum() / values.numel()


# ---------------------------------------------------------------- shape checks
def _check_same_shape(name: str, y_true: torch.Tensor, y_pred: torch.Tensor):
    y_true, y_pred = align_ranks(y_true, y_pred)
    if tuple(y_true.shape) == tuple(y_pred.shape):
        return y_true, y_pred
    hint = ""
    if y_pred.ndim == 3 and y_true.ndim == 2 and y_true.shape[0] == y_pred.shape[0] \
            and y_true.shape[1] == y_pred.shape[2]:
        hint = (" The model outputs a sequence (B, T, F) but y has no time axis: give one target per step "
                "(B, T, F), or drop return_sequences=True so the model outputs (B, F).")
    elif y_pred.ndim == 2 and y_true.ndim == 3:
        hint = (" y has a time axis but the model outputs one vector per sample: set return_sequences=True "
                "(and wrap the head in TimeDistributed) for a many-to-many model.")
    elif name == "binary_crossentropy" and y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] > 1:
        hint = " binary_crossentropy needs one 0/1 target per output unit (multi-label bit vectors)."
    raise ValueError(
        f"{name}: y_true of shape {fmt_shape(y_true.shape)} does not match the model output of shape "
        f"{fmt_shape(y_pred.shape)}.{hint}"
    )


# ---------------------------------------------------------------- element-wise losses (Keras functions)
def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)**2, axis=-1)``: one value per sample (and per step)."""
    y_true, y_pred = _check_same_shape("mean_squared_error", y_true.to(y_pred.dtype), y_pred)
    return (y_true - y_pred).square().mean(-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    y_true, y_pred = _check_same_shape("mean_absolute_error", y_true.to(y_pred.dtype), y_pred)
    return (y_true - y_pred).abs().mean(-1)


def huber(y_true, y_pred, delta: float = 1.0):
    """``mean(0.5 e**2 if |e| <= delta else delta |e| - 0.5 delta**2, axis=-1)``."""
    y_true, y_pred = _check_same_shape("huber", y_true.to(y_pred.dtype), y_pred)
    err = y_pred - y_true
    a = err.abs()
    return torch.where(a <= delta, 0.5 * err.square(), delta * a - 0.5 * delta * delta).mean(-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0):
    """Mean over the last axis of the element-wise binary cross-entropy (multi-label friendly)."""
    y_true, y_pred = _check_same_shape("binary_crossentropy", y_true.to(y_pred.dtype), y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        ce = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        ce = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log(1.0 - p))
    return ce.mean(-1)


def _check_one_hot(name, y_true, y_pred):
    if tuple(y_true.shape) == tuple(y_pred.shape):
        return
    if y_true.ndim == y_pred.ndim - 1 \
            or (y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
        if tuple(y_true.shape[: y_pred.ndim - 1]) == tuple(y_pred.shape[:-1]):
            raise ValueError(
                f"{name}: y_true of shape {fmt_shape(y_true.shape)} looks like integer class ids, but "
                f"{name} expects one-hot targets of the output's shape {fmt_shape(y_pred.shape)}. Use "
                f"loss='sparse_categorical_crossentropy' for class ids (or one-hot encode y)."
            )
    hint = ""
    if y_pred.ndim == 3 and y_true.ndim == 2 and y_true.shape[-1] == y_pred.shape[-1]:
        hint = (" The model outputs a sequence (B, T, C) but y has no time axis: give one-hot targets per "
                "step (B, T, C), or drop return_sequences=True.")
    raise ValueError(
        f"{name}: y_true of shape {fmt_shape(y_true.shape)} does not match the model output of shape "
        f"{fmt_shape(y_pred.shape)}.{hint}"
    )


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0):
    """``-sum(y_true * log(p), axis=-1)`` over one-hot (or soft) targets; one value per sample/step."""
    _check_one_hot("categorical_crossentropy", y_true, y_pred)
    y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        c = y_pred.shape[-1]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / c
    if from_logits:
        logp = torch.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(-1, keepdim=True)  # Keras renormalises probabilities
        logp = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
    return -(y_true * logp).sum(-1)


def _sparse_targets(name, y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if y_true.ndim == y_pred.ndim and tuple(y_true.shape) == tuple(y_pred.shape) and y_pred.shape[-1] > 1:
        raise ValueError(
            f"{name}: y_true of shape {fmt_shape(y_true.shape)} looks one-hot (it has the output's shape), "
            f"but {name} expects integer class ids of shape {fmt_shape(y_pred.shape[:-1])}. Use "
            f"loss='categorical_crossentropy' for one-hot targets, or pass y.argmax(-1)."
        )
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        hint = ""
        if y_pred.ndim == 3 and y_true.ndim == 1:
            hint = (" The model outputs a sequence (B, T, C) but y has one label per sample: give one label "
                    "per step (B, T), or drop return_sequences=True for a many-to-one model.")
        elif y_pred.ndim == 2 and y_true.ndim == 2:
            hint = (" y has a time axis but the model outputs one vector per sample: set "
                    "return_sequences=True and wrap the classifier in TimeDistributed.")
        raise ValueError(
            f"{name}: y_true of shape {fmt_shape(y_true.shape)} does not fit the model output of shape "
            f"{fmt_shape(y_pred.shape)}; expected class ids of shape {fmt_shape(y_pred.shape[:-1])}.{hint}"
        )
    if y_true.is_floating_point():
        if not torch.equal(y_true, y_true.round()):
            raise ValueError(
                f"{name}: y_true holds non-integer values; sparse targets are class ids 0..C-1. "
                f"Use categorical_crossentropy for probability targets."
            )
    y_true = y_true.long()
    if y_true.numel() and y_true.device.type == "cpu":
        lo, hi = (int(v) for v in torch.aminmax(y_true))  # one pass over the ids, not two
        if lo < 0 or hi >= y_pred.shape[-1]:
            raise ValueError(
                f"{name}: class id {hi if hi >= y_pred.shape[-1] else lo} is outside 0..{y_pred.shape[-1] - 1} "
                f"(the model outputs {y_pred.shape[-1]} classes). Give the last layer one unit per class."
            )
    return y_true


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None):
    """Cross-entropy against integer class ids ``(B,)`` / ``(B, T)``; one value per sample/step."""
    y_true = _sparse_targets("sparse_categorical_crossentropy", y_true, y_pred)
    valid = None
    if ignore_class is not None:
        valid = y_true != ignore_class
        y_true = torch.where(valid, y_true, torch.zeros_like(y_true))
    ids = y_true.unsqueeze(-1)  # (..., 1)
    if from_logits:
        out = -torch.log_softmax(y_pred, dim=-1).gather(-1, ids).squeeze(-1)
    else:  # Keras: log(clip(p / sum(p))) at the true class; only that class's p is computed (the same value)
        p_true = y_pred.gather(-1, ids) / y_pred.sum(-1, keepdim=True)  # (..., 1)
        out = -torch.log(p_true.clamp(EPSILON, 1.0 - EPSILON)).squeeze(-1)
    if valid is not None:
        out = out * valid.to(out.dtype)
    return out


# ---------------------------------------------------------------- Loss objects
class Loss:
    """A loss: ``loss(y_true, y_pred, sample_weight=None, mask=None) -> scalar``.

    ``call`` gives the per-sample/per-step values; ``__call__`` reduces them as Keras 3 does (see
    the module docstring). ``mask`` defaults to the mask attached to ``y_pred``.
    """

    name = "loss"

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        if mask is None:
            mask = get_mask(y_pred)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        values = self.call(y_true, y_pred)
        _check_result(self, values, y_pred, "loss")
        if values.ndim == 0:
            return values
        if mask is not None and mask.ndim > values.ndim:  # e.g. a (B, T) mask on a many-to-one loss
            mask = None
        return reduce_weighted(values, sample_weight, mask)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _check_result(fn, values, y_pred, what: str) -> None:
    """A user loss or metric must return a tensor computed from ``y_pred`` (so gradients flow)."""
    name = getattr(fn, "name", None) or type(fn).__name__
    if not isinstance(values, torch.Tensor):
        kind = "a numpy array" if isinstance(values, np.ndarray) else f"{type(values).__name__} {values!r:.30}"
        raise TypeError(f"{what} {name!r}: expected the function (y_true, y_pred) to return a torch tensor of "
                        f"per-sample values (B,) or per-step values (B, T), got {kind}. Compute it with torch "
                        f"operations on y_pred" + (" and return it." if values is None else " (numpy and Python "
                        "numbers carry no gradient)."))
    if what == "loss" and y_pred.requires_grad and torch.is_grad_enabled() and not values.requires_grad:
        raise ValueError(f"loss {name!r}: the value returned does not depend on y_pred, so no gradient reaches the "
                         f"model. Compute it from y_pred with torch operations (without .detach(), .numpy() "
                         f"or .item()).")


class LossFunctionWrapper(Loss):
    """Wrap ``fn(y_true, y_pred, **kwargs)`` returning per-sample (or per-step) values."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs):
        self.fn = fn
        self.kwargs = kwargs
        self.name: str = name or str(getattr(fn, "__name__", "loss"))

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.kwargs)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name=name)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name=name)


class Huber(LossFunctionWrapper):
    def __init__(self, delta: float = 1.0, name="huber_loss"):
        super().__init__(huber, name=name, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name="binary_crossentropy"):
        super().__init__(binary_crossentropy, name=name, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, name=name, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, ignore_class=None, name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, name=name, from_logits=from_logits,
                         ignore_class=ignore_class)


_NAMES: dict[str, Callable[[], Loss]] = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "cce": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "scce": SparseCategoricalCrossentropy,
}
_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
                                    CategoricalCrossentropy, SparseCategoricalCrossentropy)}


def get(identifier) -> Loss:
    """A ``Loss`` from a name (``'mse'``, ``'sparse_categorical_crossentropy'``...), a Loss, or a callable."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _NAMES:
            return _NAMES[identifier]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise unknown_name_error("loss", identifier, [k for k in _NAMES if k.islower()], where="compile")
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        for cls in _CLASSES.values():  # a Keras-style function of ours keeps its name
            if getattr(cls(), "fn", None) is identifier:
                return cls()
        return LossFunctionWrapper(identifier)
    raise TypeError(
        f"compile: loss must be a name like 'mse', a Loss object or a function (y_true, y_pred) -> "
        f"per-sample losses, got {type(identifier).__name__}."
    )


__all__ = [
    "EPSILON", "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "mean_squared_error",
    "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "reduce_weighted", "get",
]
