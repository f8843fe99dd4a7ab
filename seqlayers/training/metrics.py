"""Streaming metrics that respect time steps, masks and sample weights.

Every metric keeps running sums in a small float64 state vector (``state``), so an epoch's value
is exact over all batches (not an average of batch averages), and under ``torchrun`` the states of
all processes are summed with one ``all_reduce`` before the value is read (logs are global).

* Mean metrics (``accuracy``, ``mse``, ``mae``...): ``total += sum(values * w)``,
  ``count += sum(w)`` with ``w = sample_weight * mask`` and one value per sample and time step,
  as Keras's ``MeanMetricWrapper``. ``'accuracy'`` picks binary / sparse / categorical accuracy from
  the shapes exactly as Keras 3 does (last output axis 1 -> binary; targets of lower rank, or a
  trailing axis of 1 -> sparse; else categorical).
* ``Precision``/``Recall``/``F1Score`` for multi-label bit vectors (one 0/1 target per output
  unit, e.g. a system action per dialogue turn): per-class true/false positive and false negative
  counts, streamed batch by batch (computed here rather than with scikit-learn, which would need
  every prediction in memory; the tests check the counts against ``sklearn.metrics``).
  ``average='micro'`` pools the counts over classes; ``'macro'`` averages the per-class scores
  (a class never predicted nor present scores 0, as scikit-learn's ``zero_division=0``).
  Predictions are ``y_pred > threshold`` (0.5: give probabilities, i.e. a sigmoid output).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import unknown_name_error
from ..layers.base import get_mask
from .losses import align_ranks, mean_absolute_error, mean_squared_error, weights_and_mask


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None, mask=None)``, ``result()``,
    ``reset_state()``; the running sums live in ``self.state`` (a float64 tensor)."""

    name = "metric"

    def __init__(self, name: str | None = None):
        if name is not None:
            self.name = name
        self.state: torch.Tensor | None = None

    def reset_state(self) -> None:
        self.state = None

    def _add(self, values: torch.Tensor) -> None:
        values = values.detach().to(torch.float64)
        self.state = values if self.state is None else self.state + values.to(self.state.device)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class MeanMetricWrapper(Metric):
    """Weighted mean of ``fn(y_true, y_pred)`` over every valid sample and time step."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn
        self.kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        if mask is None:
            mask = get_mask(y_pred)
        with torch.no_grad():
            values = self.fn(torch.as_tensor(y_true, device=y_pred.device), y_pred.detach(), **self.kwargs)
            values = values.to(torch.float64)
            if mask is not None and mask.ndim > values.ndim:
                mask = None
            w = weights_and_mask(values, sample_weight, mask)
            if w is None:
                self._add(torch.stack([values.sum(), torch.tensor(float(values.numel()), dtype=torch.float64,
                                                                  device=values.device)]))
            else:
                w = w.to(torch.float64)
                self._add(torch.stack([(values * w).sum(), w.sum()]))

    def result(self) -> float:
        if self.state is None:
            return 0.0
        total, count = self.state.tolist()
        return total / count if count else 0.0


# ---------------------------------------------------------------- accuracy functions (per sample/step)
def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_true, y_pred = align_ranks(y_true, y_pred)
    pred = (y_pred > threshold).to(y_pred.dtype)
    return (y_true.to(y_pred.dtype) == pred).to(y_pred.dtype).mean(-1)


def categorical_accuracy(y_true, y_pred):
    return (y_true.argmax(-1) == y_pred.argmax(-1)).to(y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_true.long() == y_pred.argmax(-1)).to(y_pred.dtype)


class Accuracy(MeanMetricWrapper):
    """Keras's ``'accuracy'``: binary, sparse or categorical accuracy chosen from the shapes on first use."""

    def __init__(self, name: str = "accuracy"):
        super().__init__(self._pick, name=name)
        self.kind: str | None = None

    def _pick(self, y_true, y_pred):
        if self.kind is None:
            sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
            self.kind = "binary" if y_pred.shape[-1] == 1 else ("sparse" if sparse else "categorical")
        fn = {"binary": binary_accuracy, "sparse": sparse_categorical_accuracy,
              "categorical": categorical_accuracy}[self.kind]
        return fn(y_true, y_pred)


# ---------------------------------------------------------------- precision / recall / F1 (multi-label)
class _Counts(Metric):
    """Per-class tp, fp, fn counts of ``y_pred > threshold`` against 0/1 targets (state: (3, C))."""

    def __init__(self, average: str = "micro", threshold: float = 0.5, name: str | None = None):
        if average not in ("micro", "macro"):
            raise ValueError(f"{type(self).__name__}: average must be 'micro' or 'macro', got {average!r}.")
        super().__init__(name)
        self.average = average
        self.threshold = float(threshold)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        if mask is None:
            mask = get_mask(y_pred)
        with torch.no_grad():
            y_true = torch.as_tensor(y_true, device=y_pred.device)
            y_pred = y_pred.detach()
            if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
                y_true = y_true.unsqueeze(-1)  # binary targets (B, T) for a (B, T, 1) output
            if y_pred.ndim == 1:
                y_true, y_pred = y_true.unsqueeze(-1), y_pred.unsqueeze(-1)
            if tuple(y_true.shape) != tuple(y_pred.shape):
                raise ValueError(
                    f"{self.name}: expected 0/1 targets of the output's shape {tuple(y_pred.shape)} "
                    f"(one bit per class), got {tuple(y_true.shape)}."
                )
            t = y_true > 0.5
            p = y_pred > self.threshold
            per_step = torch.ones(y_pred.shape[:-1], dtype=torch.float64, device=y_pred.device)
            w = weights_and_mask(per_step, sample_weight, mask if (mask is None or mask.ndim <= per_step.ndim) else None)
            w = (per_step if w is None else w.to(torch.float64)).unsqueeze(-1)
            C = y_pred.shape[-1]
            tp = ((t & p).to(torch.float64) * w).reshape(-1, C).sum(0)
            fp = ((~t & p).to(torch.float64) * w).reshape(-1, C).sum(0)
            fn = ((t & ~p).to(torch.float64) * w).reshape(-1, C).sum(0)
            self._add(torch.stack([tp, fp, fn]))

    def _scores(self):
        if self.state is None:
            return None
        tp, fp, fn = self.state
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        return tp, fp, fn

    @staticmethod
    def _div(a, b):
        return torch.where(b > 0, a / b.clamp_min(1e-300), torch.zeros_like(a))

    def result(self) -> float:
        s = self._scores()
        if s is None:
            return 0.0
        return float(self._value(*s).mean())


class Precision(_Counts):
    """``tp / (tp + fp)`` of thresholded predictions (micro: pooled over classes; macro: class mean)."""

    name = "precision"

    def _value(self, tp, fp, fn):
        return self._div(tp, tp + fp)


class Recall(_Counts):
    """``tp / (tp + fn)`` of thresholded predictions (micro or macro)."""

    name = "recall"

    def _value(self, tp, fp, fn):
        return self._div(tp, tp + fn)


class F1Score(_Counts):
    """``2 tp / (2 tp + fp + fn)`` of thresholded predictions (micro or macro)."""

    name = "f1"

    def _value(self, tp, fp, fn):
        return self._div(2 * tp, 2 * tp + fp + fn)


def _mean(fn, name):
    return lambda: MeanMetricWrapper(fn, name=name)


_NAMES: dict[str, Callable[[], Metric]] = {
    "accuracy": lambda: Accuracy("accuracy"), "acc": lambda: Accuracy("acc"),
    "binary_accuracy": _mean(binary_accuracy, "binary_accuracy"),
    "categorical_accuracy": _mean(categorical_accuracy, "categorical_accuracy"),
    "sparse_categorical_accuracy": _mean(sparse_categorical_accuracy, "sparse_categorical_accuracy"),
    "mse": _mean(mean_squared_error, "mse"), "mean_squared_error": _mean(mean_squared_error, "mean_squared_error"),
    "mae": _mean(mean_absolute_error, "mae"), "mean_absolute_error": _mean(mean_absolute_error, "mean_absolute_error"),
    "precision": lambda: Precision("micro", name="precision"),
    "recall": lambda: Recall("micro", name="recall"),
    "f1": lambda: F1Score("micro", name="f1"),
    "precision_micro": lambda: Precision("micro", name="precision_micro"),
    "recall_micro": lambda: Recall("micro", name="recall_micro"),
    "f1_micro": lambda: F1Score("micro", name="f1_micro"),
    "precision_macro": lambda: Precision("macro", name="precision_macro"),
    "recall_macro": lambda: Recall("macro", name="recall_macro"),
    "f1_macro": lambda: F1Score("macro", name="f1_macro"),
}


def get(identifier) -> Metric:
    """A fresh ``Metric`` from a name, a Metric (used as is), or a function ``(y_true, y_pred) -> values``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in _NAMES:
            return _NAMES[identifier]()
        raise unknown_name_error("metric", identifier, _NAMES, where="compile")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"compile: a metric must be a name like 'accuracy', a Metric or a function, got "
                    f"{type(identifier).__name__}.")


__all__ = [
    "Metric", "MeanMetricWrapper", "Accuracy", "Precision", "Recall", "F1Score", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "get",
]
