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
* Keras's metric objects (``MeanAbsoluteError()``, ``RootMeanSquaredError()``, ``BinaryAccuracy()``,
  ``TopKCategoricalAccuracy()``, ``Precision()``, ``AUC()``, ``F1Score()``, ``Mean()``...) with Keras's
  arguments and log names (``history.history["mean_absolute_error"]``), masked like the string forms.
  ``Accuracy()`` is Keras's exact-match accuracy (``y_true == y_pred``); the string ``'accuracy'`` is
  ``AutoAccuracy``, which picks binary / sparse / categorical accuracy from the shapes as Keras does.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..errors import unknown_name_error
from ..layers.base import get_mask
from .losses import (
    align_ranks,
    binary_crossentropy,
    categorical_crossentropy,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
    weights_and_mask,
)


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None, mask=None)``, ``result()``,
    ``reset_state()``; the running sums live in ``self.state`` (a float64 tensor)."""

    name = "metric"
    weighted = False  # compile(weighted_metrics=...) sets True: the metric sees sample_weight

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


def _as_tensor(v, device=None) -> torch.Tensor:
    """numpy or Python values as tensors (float64 as float32, bool as float32), as Keras's metrics take them."""
    t = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
    if t.dtype in (torch.float64, torch.bool):
        t = t.float()
    return t if device is None else t.to(device)


def _inputs(y_true, y_pred, mask):
    """One batch's ``(y_true, y_pred, mask)``: tensors on ``y_pred``'s device, ``y_pred`` detached, and the
    mask that travels on ``y_pred`` when none is given (read before detaching, which drops it)."""
    y_pred = _as_tensor(y_pred)
    if mask is None:
        mask = get_mask(y_pred)
    return _as_tensor(y_true, y_pred.device), y_pred.detach(), mask


class MeanMetricWrapper(Metric):
    """Weighted mean of ``fn(y_true, y_pred)`` over every valid sample and time step."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn
        self.kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_true, y_pred, mask = _inputs(y_true, y_pred, mask)
        with torch.no_grad():
            values = self.fn(y_true, y_pred, **self.kwargs)
            if not isinstance(values, torch.Tensor):
                raise TypeError(f"metric {self.name!r}: expected the function (y_true, y_pred) to return a torch "
                                f"tensor of per-sample values, got {type(values).__name__} {values!r:.30}. Compute "
                                f"it with torch operations on y_pred.")
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


class AutoAccuracy(MeanMetricWrapper):
    """Keras's ``'accuracy'`` string: binary, sparse or categorical accuracy chosen from the shapes on first use."""

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
    """Per-class tp, fp, fn counts of ``y_pred > threshold`` against 0/1 targets (state: (3, C)).

    ``threshold=None`` predicts each row's arg-max class (Keras's ``F1Score`` default); ``class_id``
    counts only that column (Keras's ``Precision(class_id=...)``)."""

    _averages: tuple[str | None, ...] = ("micro", "macro")

    def __init__(self, average="micro", threshold=0.5, name: str | None = None, class_id=None):
        if average not in self._averages:
            raise ValueError(f"{type(self).__name__}: average must be one of {self._averages}, got {average!r}.")
        super().__init__(name)
        self.average = average
        self.threshold = None if threshold is None else float(threshold)
        self.class_id = class_id

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_true, y_pred, mask = _inputs(y_true, y_pred, mask)
        with torch.no_grad():
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
            if self.threshold is None:
                p = y_pred == y_pred.amax(-1, keepdim=True)
            else:
                p = y_pred > self.threshold
            if self.class_id is not None:
                t, p, y_pred = t[..., self.class_id:self.class_id + 1], p[..., self.class_id:self.class_id + 1], \
                    y_pred[..., self.class_id:self.class_id + 1]
            per_step = torch.ones(y_pred.shape[:-1], dtype=torch.float64, device=y_pred.device)
            step_mask = mask if (mask is None or mask.ndim <= per_step.ndim) else None
            w = weights_and_mask(per_step, sample_weight, step_mask)
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

    def result(self):
        s = self._scores()
        if s is None:
            return 0.0
        values = self._value(*s)
        if self.average is None:
            return values.numpy()  # one score per class, as Keras's F1Score(average=None)
        if self.average == "weighted":
            support = s[0] + s[2]
            return float((values * support).sum() / support.sum()) if float(support.sum()) else 0.0
        return float(values.mean())


class _KerasThresholded(_Counts):
    """Keras's ``Precision`` / ``Recall`` signature: ``(thresholds=None, top_k=None, class_id=None, name=None)``;
    counts are pooled over every class and step (``average='micro'``)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None, average="micro"):
        if top_k is not None:
            raise ValueError(f"{type(self).__name__}: top_k is not supported; use thresholds (default 0.5).")
        if isinstance(thresholds, (list, tuple)):
            if len(thresholds) != 1:
                raise ValueError(f"{type(self).__name__}: one threshold is supported, got {list(thresholds)}.")
            thresholds = thresholds[0]
        super().__init__(average, 0.5 if thresholds is None else thresholds, name, class_id=class_id)


class Precision(_KerasThresholded):
    """``tp / (tp + fp)`` of thresholded predictions (micro: pooled over classes; macro: class mean)."""

    name = "precision"

    def _value(self, tp, fp, fn):
        return self._div(tp, tp + fp)


class Recall(_KerasThresholded):
    """``tp / (tp + fn)`` of thresholded predictions (micro or macro)."""

    name = "recall"

    def _value(self, tp, fp, fn):
        return self._div(tp, tp + fn)


class F1Score(_Counts):
    """``2 tp / (2 tp + fp + fn)`` per class, as Keras's ``F1Score(average=None, threshold=None)``.

    ``average``: None (one score per class), ``'micro'``, ``'macro'`` or ``'weighted'`` (by support);
    ``threshold``: None predicts each row's arg-max class, else ``y_pred > threshold``."""

    name = "f1_score"
    _averages = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, threshold=None, name=None, dtype=None):
        super().__init__(average, threshold, name)

    def _value(self, tp, fp, fn):
        return self._div(2 * tp, 2 * tp + fp + fn)


class _F1(F1Score):
    """The ``'f1'`` strings: ``y_pred > 0.5`` on bit vectors, pooled (micro) or class-averaged (macro)."""

    def __init__(self, average="micro", name="f1"):
        super().__init__(average, 0.5, name)


def _counts(cls, average, name):
    def make():
        m = cls(name=name)
        m.average = average
        return m
    return make


# ---------------------------------------------------------------- AUC
class AUC(Metric):
    """Area under the ROC curve from counts at ``num_thresholds`` evenly spaced thresholds, with
    Keras's interpolation (``summation_method='interpolation'``); state: (4, num_thresholds)."""

    name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, thresholds=None,
                 multi_label=False, num_labels=None, label_weights=None, from_logits=False, dtype=None):
        if curve != "ROC" or summation_method != "interpolation" or multi_label or thresholds is not None:
            raise ValueError("AUC: only curve='ROC' with summation_method='interpolation' over evenly spaced "
                             f"thresholds is supported, got curve={curve!r}, summation_method={summation_method!r}.")
        if num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}.")
        super().__init__(name)
        eps = 1e-7
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = torch.tensor([0.0 - eps] + inner + [1.0 + eps], dtype=torch.float64)
        self.from_logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_true, y_pred, mask = _inputs(y_true, y_pred, mask)
        with torch.no_grad():
            pred = y_pred.to(torch.float64)
            if self.from_logits:
                pred = torch.sigmoid(pred)
            y_true, pred = align_ranks(y_true, pred)
            w = weights_and_mask(pred, sample_weight, mask)
            w = torch.ones_like(pred) if w is None else w.to(torch.float64)
            t = (y_true.to(torch.float64) > 0.5).reshape(-1, 1)
            above = pred.reshape(-1, 1) > self.thresholds.to(pred.device).reshape(1, -1)   # (N, thresholds)
            w = w.reshape(-1, 1)
            tp = ((t & above) * w).sum(0)
            fp = ((~t & above) * w).sum(0)
            fn = ((t & ~above) * w).sum(0)
            tn = ((~t & ~above) * w).sum(0)
            self._add(torch.stack([tp, fp, tn, fn]))

    def result(self) -> float:
        if self.state is None:
            return 0.0
        tp, fp, tn, fn = self.state
        div = lambda a, b: torch.where(b > 0, a / b.clamp_min(1e-300), torch.zeros_like(a))  # noqa: E731
        tpr, fpr = div(tp, tp + fn), div(fp, fp + tn)
        return float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum())


# ---------------------------------------------------------------- Keras's metric classes over functions
def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    return sparse_top_k_categorical_accuracy(y_true.argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    k = min(k, y_pred.shape[-1])
    # in the top k when fewer than k classes score strictly higher than the true one (Keras's in_top_k)
    true_score = y_pred.gather(-1, y_true.long().unsqueeze(-1))
    return ((y_pred > true_score).sum(-1) < k).to(y_pred.dtype)


def exact_accuracy(y_true, y_pred):
    y_true, y_pred = align_ranks(y_true, y_pred)
    return (y_true.to(y_pred.dtype) == y_pred).to(torch.float32)


def _wrapper(fn, default_name, doc, **defaults):
    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected argument {sorted(unknown)[0]!r}.")
        MeanMetricWrapper.__init__(self, fn, name=name, **{**defaults, **kwargs})
    cls_name = "".join(p.capitalize() for p in default_name.split("_"))
    return type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})


MeanSquaredError = _wrapper(mean_squared_error, "mean_squared_error", "Mean of ``(y_true - y_pred)**2``.")
MeanAbsoluteError = _wrapper(mean_absolute_error, "mean_absolute_error", "Mean of ``|y_true - y_pred|``.")
Accuracy = _wrapper(exact_accuracy, "accuracy", "Keras's ``Accuracy``: how often ``y_pred == y_true`` exactly.")
BinaryAccuracy = _wrapper(binary_accuracy, "binary_accuracy", "How often ``(y_pred > threshold) == y_true``.",
                          threshold=0.5)
CategoricalAccuracy = _wrapper(categorical_accuracy, "categorical_accuracy",
                               "How often the arg-max matches one-hot targets.")
SparseCategoricalAccuracy = _wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy",
                                     "How often the arg-max matches integer targets.")
TopKCategoricalAccuracy = _wrapper(top_k_categorical_accuracy, "top_k_categorical_accuracy",
                                   "How often the one-hot target is among the ``k`` highest scores.", k=5)
SparseTopKCategoricalAccuracy = _wrapper(sparse_top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy",
                                         "How often the integer target is among the ``k`` highest scores.", k=5)
BinaryCrossentropy = _wrapper(binary_crossentropy, "binary_crossentropy", "Mean binary cross-entropy.",
                              from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _wrapper(categorical_crossentropy, "categorical_crossentropy",
                                   "Mean categorical cross-entropy.", from_logits=False, label_smoothing=0.0)
SparseCategoricalCrossentropy = _wrapper(sparse_categorical_crossentropy, "sparse_categorical_crossentropy",
                                         "Mean sparse categorical cross-entropy.", from_logits=False)


class RootMeanSquaredError(MeanMetricWrapper):
    """``sqrt`` of the weighted mean squared error over every valid sample and step."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class Mean(Metric):
    """The weighted mean of the values given to ``update_state(values, sample_weight=None)``."""

    name = "mean"

    def __init__(self, name=None, dtype=None):
        super().__init__(name)

    # Keras's Mean takes values, not (y_true, y_pred): the narrower signature is its API
    def update_state(self, values, sample_weight=None) -> None:  # type: ignore[override]
        v = _as_tensor(values).detach().to(torch.float64)
        if sample_weight is None:
            self._add(torch.stack([v.sum(), torch.tensor(float(v.numel()), dtype=torch.float64)]))
            return
        w = torch.broadcast_to(_as_tensor(sample_weight, v.device).to(torch.float64), v.shape)
        self._add(torch.stack([(v * w).sum(), w.sum()]))

    def result(self) -> float:
        if self.state is None:
            return 0.0
        total, count = self.state.tolist()
        return total / count if count else 0.0


class Sum(Mean):
    """The sum of the values given to ``update_state``."""

    name = "sum"

    def result(self) -> float:
        return 0.0 if self.state is None else float(self.state[0])


def _mean(fn, name):
    return lambda: MeanMetricWrapper(fn, name=name)


_NAMES: dict[str, Callable[[], Metric]] = {
    "accuracy": lambda: AutoAccuracy("accuracy"), "acc": lambda: AutoAccuracy("acc"),
    "binary_accuracy": _mean(binary_accuracy, "binary_accuracy"),
    "categorical_accuracy": _mean(categorical_accuracy, "categorical_accuracy"),
    "sparse_categorical_accuracy": _mean(sparse_categorical_accuracy, "sparse_categorical_accuracy"),
    "mse": _mean(mean_squared_error, "mse"), "mean_squared_error": _mean(mean_squared_error, "mean_squared_error"),
    "mae": _mean(mean_absolute_error, "mae"), "mean_absolute_error": _mean(mean_absolute_error, "mean_absolute_error"),
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": _counts(Precision, "micro", "precision"),
    "recall": _counts(Recall, "micro", "recall"),
    "f1": lambda: _F1("micro", name="f1"),
    "precision_micro": _counts(Precision, "micro", "precision_micro"),
    "recall_micro": _counts(Recall, "micro", "recall_micro"),
    "f1_micro": lambda: _F1("micro", name="f1_micro"),
    "precision_macro": _counts(Precision, "macro", "precision_macro"),
    "recall_macro": _counts(Recall, "macro", "recall_macro"),
    "f1_macro": lambda: _F1("macro", name="f1_macro"),
    "auc": AUC,
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
    "AUC", "Accuracy", "AutoAccuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy",
    "CategoricalCrossentropy", "F1Score", "Mean", "MeanAbsoluteError", "MeanMetricWrapper", "MeanSquaredError",
    "Metric", "Precision", "Recall", "RootMeanSquaredError", "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy", "Sum", "TopKCategoricalAccuracy",
    "binary_accuracy", "categorical_accuracy", "exact_accuracy", "get", "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
]
