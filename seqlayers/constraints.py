"""Weight constraints, Keras's names and formulas: ``MaxNorm``, ``NonNeg``, ``UnitNorm``, ``MinMaxNorm``.

A constraint maps a weight to its projection; ``fit`` applies every layer's constraints right after
each optimizer step (``apply_constraints(model)``), as Keras does. Norms are taken over ``axis``
(default 0: the input axis of a Keras-layout ``(F, H)`` kernel, so each unit's incoming weights).

    Dense(8, kernel_constraint=MaxNorm(2.0), bias_constraint="non_neg")
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .keras_objects import Family, KerasObject

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _norms(w: torch.Tensor, axis) -> torch.Tensor:
    return w.square().sum(dim=axis, keepdim=True).sqrt()


class Constraint(KerasObject):
    """Base class: ``__call__(w)`` returns the projected weight; ``get_config()`` its arguments."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w


class MaxNorm(Constraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value`` to that norm."""

    def __init__(self, max_value: float = 2, axis: int | list[int] = 0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (norms.clamp(0, self.max_value) / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Clip negative weights to 0."""

    def __call__(self, w):
        return w.clamp_min(0)


class UnitNorm(Constraint):
    """Scale each slice along ``axis`` to unit L2 norm."""

    def __init__(self, axis: int | list[int] = 0):
        self.axis = axis

    def __call__(self, w):
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each slice's L2 norm into ``[min_value, max_value]``, by a fraction ``rate`` per step."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int | list[int] = 0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


#: Keras's names (class names and their snake_case forms)
CONSTRAINTS: dict[str, type[Constraint]] = {
    "Constraint": Constraint, "MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm,
    "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm,
}

max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm


_FAMILY = Family("constraint", CONSTRAINTS, Constraint, "seqlayers.constraints.MaxNorm(2.0)", "non_neg")
get = _FAMILY.get
serialize = _FAMILY.serialize
deserialize = _FAMILY.deserialize


@torch.no_grad()
def apply_constraints(module: nn.Module) -> None:
    """Project every constrained weight of ``module``'s layers in place (``fit`` calls this after each
    optimizer step). A layer declares its constraints in ``_weight_constraints`` ({weight name: fn});
    each acts on the weight's Keras layout (``layer._keras_value`` / ``_set_keras_value``)."""
    for m in module.modules():
        declared = m.__dict__.get("_weight_constraints")
        if not declared:
            continue
        for name, constraint in declared.items():
            w = getattr(m, name, None)
            if isinstance(w, torch.Tensor) and w.requires_grad:
                layer: Any = m  # a seqlayers Layer (it declares _weight_constraints); nn.Module's stubs type
                # unknown attributes as Tensor | Module
                layer._set_keras_value(name, constraint(layer._keras_value(name)))


__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "apply_constraints", "deserialize",
           "get", "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm"]
