"""Weight and activity regularizers, Keras's names and formulas: ``L1``, ``L2``, ``L1L2``,
``OrthogonalRegularizer``.

A regularizer maps a weight (or a layer's output, for ``activity_regularizer``) to a scalar penalty.
A layer lists the penalties of its weights and of its last call in ``layer.losses`` (a model: of all
its layers), and ``fit`` adds their sum to the training loss, as Keras does. Activity penalties are
divided by the batch size (Keras 3).

    Dense(8, kernel_regularizer="l2")                 # L2(0.01)
    LSTM(8, recurrent_regularizer=L1L2(l1=1e-5, l2=1e-4), activity_regularizer=L1(1e-3))
"""
from __future__ import annotations

import math

import torch

from .keras_objects import Family, KerasObject


def _factor(value, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative number, got {value!r}.")
    return float(value)


class Regularizer(KerasObject):
    """Base class: ``__call__(x)`` returns a scalar penalty; ``get_config()`` its arguments."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(())


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``. Both default to 0 (Keras's ``L1L2()``)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, x):
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``; ``"l1"`` is ``L1(0.01)``."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1", "L1")

    def __call__(self, x):
        return self.l1 * x.abs().sum()

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)``; ``"l2"`` is ``L2(0.01)``."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2", "L2")

    def __call__(self, x):
        return self.l2 * x.square().sum()

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns of a 2-D weight towards orthogonality:
    ``factor * 0.5 * sum(|off-diagonal of N N^T|) / (n (n - 1) / 2)`` with N the L2-normalised rows
    (or ``N^T N`` with normalised columns), n their number."""

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got {mode!r}.")
        self.mode = mode

    def __call__(self, x):
        if x.dim() != 2:
            raise ValueError(f"OrthogonalRegularizer: expected a 2-D weight, got shape {tuple(x.shape)}. "
                             f"Use it on Dense kernels or recurrent kernels, not on biases.")
        axis = 1 if self.mode == "rows" else 0
        n = torch.nn.functional.normalize(x, dim=axis, eps=1e-12)
        product = n @ n.T if self.mode == "rows" else n.T @ n  # (k, k) cosine similarities
        k = product.shape[0]
        off_diagonal = product * (1.0 - torch.eye(k, dtype=x.dtype, device=x.device))
        pairs = k * (k - 1.0) / 2.0
        return self.factor * 0.5 * off_diagonal.abs().sum() / pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


#: Keras's names (class names and their snake_case forms)
REGULARIZERS: dict[str, type[Regularizer]] = {
    "L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer, "Regularizer": Regularizer,
    "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer,
}

l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer


_FAMILY = Family("regularizer", REGULARIZERS, Regularizer, "seqlayers.regularizers.L2(0.01)", "l2")
get = _FAMILY.get
serialize = _FAMILY.serialize
deserialize = _FAMILY.deserialize


__all__ = ["L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "deserialize", "get", "l1", "l1_l2",
           "l2", "orthogonal_regularizer", "serialize"]
