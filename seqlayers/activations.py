"""Activation functions by Keras name.

``get("relu")`` returns a callable on tensors; a callable passes through unchanged. The names are
Keras's, with Keras's definitions (``hard_sigmoid`` is Keras 3's ``relu6(x + 3) / 6``; ``softmax``
acts on the last axis).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .errors import unknown_name_error


def linear(x):
    return x


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


#: torch's CPU softmax takes a scalar path when the last axis is shorter than one 16-float vector:
#: measured (one thread) 3-6x slower than max/exp/sum/divide over the whole tensor from 512 rows of
#: 1-12 values up (W3's 512 rows of 12: 149 vs 41 us; with the backward 256 vs 177 us); from 16 values
#: on, torch's kernel is the faster one.
SHORT_SOFTMAX_AXIS = 16
SHORT_SOFTMAX_MIN_ROWS = 256


def softmax(x):
    n = x.shape[-1] if x.dim() else 1
    if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and 0 < n < SHORT_SOFTMAX_AXIS
            and x.numel() >= SHORT_SOFTMAX_MIN_ROWS * n):
        e = torch.exp(x - x.amax(dim=-1, keepdim=True).detach())  # the max only shifts: no gradient
        total = e.sum(dim=-1, keepdim=True)
        return e / total if x.requires_grad and torch.is_grad_enabled() else e.div_(total)  # in place: no graph
    return torch.softmax(x, dim=-1)


def log_softmax(x):
    return torch.log_softmax(x, dim=-1)


def gelu(x):
    # Keras 3's default is the exact (erf) form, as torch's.
    return F.gelu(x)


def swish(x):
    return x * torch.sigmoid(x)


def softsign(x):
    return x / (1.0 + x.abs())


# Keras's ``keras.activations.<name>`` functions that are torch's own
relu, tanh, sigmoid, elu, selu, softplus, exponential = torch.relu, torch.tanh, torch.sigmoid, F.elu, torch.selu, \
    F.softplus, torch.exp

ACTIVATIONS: dict[str, Callable] = {
    "linear": linear,
    "relu": torch.relu,
    "relu6": F.relu6,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "elu": F.elu,
    "selu": torch.selu,
    "gelu": gelu,
    "swish": swish,
    "silu": swish,
    "softplus": F.softplus,
    "softsign": softsign,
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "mish": F.mish,
}


def get(identifier, where: str | None = None) -> Callable:
    """Return the activation function for a Keras name, ``None`` (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = ACTIVATIONS.get(identifier)
        if fn is None:
            raise unknown_name_error("activation", identifier, ACTIVATIONS, where)
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(
        f"{where + ': ' if where else ''}activation must be a name such as 'relu' or a callable, "
        f"got {type(identifier).__name__} {identifier!r}."
    )


#: the module of Keras 3's own activation functions (``keras.activations.gelu`` ...)
KERAS_ACTIVATIONS_MODULE = "keras.src.activations.activations"


def name_of(fn) -> str | None:
    """The Keras name of an activation callable, or None when it is a custom function.

    Keras's own functions (``keras.activations.gelu``) are known by their name, as Keras saves them:
    with their default arguments they compute what the function of that name here computes."""
    if isinstance(fn, str):
        return fn
    for name, f in ACTIVATIONS.items():
        if f is fn:
            return name
    keras_name = getattr(fn, "__name__", None)
    if getattr(fn, "__module__", None) == KERAS_ACTIVATIONS_MODULE and keras_name in ACTIVATIONS:
        return keras_name
    return None
