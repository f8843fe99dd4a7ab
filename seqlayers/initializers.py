"""Keras initializers by name, acting on tensors in Keras layout.

Fan-in and fan-out follow Keras: for a kernel of shape ``(F, H)`` fan_in is ``F`` and fan_out is
``H`` (torch's ``nn.init`` reads a ``(H, F)`` weight the other way round, so we compute fans here).
``orthogonal`` is applied to the 2-D kernel as Keras does (used for recurrent kernels).
"""
from __future__ import annotations

import math
import re
from typing import Callable

import torch

from .errors import unknown_name_error


def _fans(shape) -> tuple[int, int]:
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(t: torch.Tensor) -> torch.Tensor:
    fan_in, fan_out = _fans(t.shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return t.uniform_(-limit, limit)


def glorot_normal(t):
    fan_in, fan_out = _fans(t.shape)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


def he_uniform(t):
    fan_in, _ = _fans(t.shape)
    limit = math.sqrt(6.0 / fan_in)
    return t.uniform_(-limit, limit)


def he_normal(t):
    fan_in, _ = _fans(t.shape)
    std = math.sqrt(2.0 / fan_in)
    return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


def lecun_uniform(t):
    fan_in, _ = _fans(t.shape)
    limit = math.sqrt(3.0 / fan_in)
    return t.uniform_(-limit, limit)


def lecun_normal(t):
    fan_in, _ = _fans(t.shape)
    std = math.sqrt(1.0 / fan_in)
    return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


def orthogonal(t):
    if t.ndim < 2:
        return torch.nn.init.normal_(t)
    return torch.nn.init.orthogonal_(t)


def zeros(t):
    return t.zero_()


def ones(t):
    return t.fill_(1.0)


def random_normal(t):
    return t.normal_(0.0, 0.05)


def random_uniform(t):
    return t.uniform_(-0.05, 0.05)


def truncated_normal(t):
    return torch.nn.init.trunc_normal_(t, 0.0, 0.05, -0.1, 0.1)


class Constant:
    """``Constant(0.5)``: fill with one value."""

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, t):
        return t.fill_(self.value)

    def get_config(self):
        return {"value": self.value}


def constant(t):
    return t.zero_()


INITIALIZERS: dict[str, Callable] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
    "random_normal": random_normal,
    "random_uniform": random_uniform,
    "uniform": random_uniform,
    "normal": random_normal,
    "truncated_normal": truncated_normal,
    "constant": constant,
}


def get(identifier, where: str | None = None) -> Callable:
    """An initializer (a function filling a tensor in place) from a Keras name or a callable."""
    if isinstance(identifier, str):
        fn = INITIALIZERS.get(identifier)
        if fn is None:  # Keras's class names: "Zeros", "GlorotUniform"
            fn = INITIALIZERS.get(re.sub(r"(?<!^)(?=[A-Z])", "_", identifier).lower())
        if fn is None:
            raise unknown_name_error("initializer", identifier, INITIALIZERS, where)
        return fn
    if isinstance(identifier, dict) and identifier.get("class_name", "").lower() == "constant":
        return Constant(identifier.get("config", {}).get("value", 0.0))
    if callable(identifier):
        return identifier
    raise TypeError(
        f"{where + ': ' if where else ''}initializer must be a name such as 'glorot_uniform' or a "
        f"callable, got {type(identifier).__name__}."
    )


@torch.no_grad()
def initialize(t: torch.Tensor, identifier, where: str | None = None) -> torch.Tensor:
    """Fill ``t`` in place with the named initializer and return it."""
    get(identifier, where)(t)
    return t
