"""Optimizers by Keras name, with Keras 3's default hyperparameters, built on ``torch.optim``.

``compile(optimizer="adam")`` gives ``torch.optim.Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-7)``
(Keras's defaults, not torch's ``eps=1e-8``). ``compile`` also takes a torch optimizer instance, a
torch optimizer class (built with torch's defaults), or one of the Keras-style factories below,
``Adam(learning_rate=0.01)`` (Keras 2's ``lr=`` is accepted).

Known differences from Keras's own update rules (torch's kernels are used as they are): ``sgd``
follows the same update as Keras (checked in the tests against Keras step by step). Elsewhere
``eps`` sits in a slightly different place: ``adam``/``adamw``/``nadam`` add it to ``sqrt(v_hat)``
(Keras to ``sqrt(v)`` before the bias correction), ``rmsprop``/``adagrad`` add it outside the
square root (Keras inside). These matter only while ``sqrt(v)`` is within a few orders of
magnitude of ``eps = 1e-7``; pass a torch optimizer to choose otherwise.
"""
from __future__ import annotations

import torch

from ..errors import unknown_name_error

#: Keras 3 defaults, mapped onto torch's argument names.
KERAS_DEFAULTS: dict[str, tuple[type, dict]] = {
    "sgd": (torch.optim.SGD, dict(lr=0.01, momentum=0.0, nesterov=False)),
    "adam": (torch.optim.Adam, dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, amsgrad=False)),
    "adamw": (torch.optim.AdamW, dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.004, amsgrad=False)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.001, alpha=0.9, eps=1e-7, momentum=0.0, centered=False)),
    "adagrad": (torch.optim.Adagrad, dict(lr=0.001, initial_accumulator_value=0.1, eps=1e-7)),
    "adadelta": (torch.optim.Adadelta, dict(lr=0.001, rho=0.95, eps=1e-7)),
    "nadam": (torch.optim.NAdam, dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, momentum_decay=0.004)),
}

# Keras argument name -> torch argument name
_RENAME = {"learning_rate": "lr", "epsilon": "eps", "initial_accumulator_value": "initial_accumulator_value"}


class KerasOptimizer:
    """A Keras-style optimizer description, turned into a torch optimizer by ``compile``.

    ``Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``; ``build(params)`` returns
    the ``torch.optim`` optimizer.
    """

    key = "sgd"

    def __init__(self, learning_rate=None, **kwargs):
        if "lr" in kwargs:  # Keras 2 spelling
            learning_rate = kwargs.pop("lr")
        self.kwargs = {}
        if learning_rate is not None:
            self.kwargs["lr"] = float(learning_rate)
        b1, b2 = kwargs.pop("beta_1", None), kwargs.pop("beta_2", None)
        if b1 is not None or b2 is not None:
            d = KERAS_DEFAULTS[self.key][1].get("betas", (0.9, 0.999))
            self.kwargs["betas"] = (d[0] if b1 is None else b1, d[1] if b2 is None else b2)
        if self.key == "rmsprop" and "rho" in kwargs:
            self.kwargs["alpha"] = kwargs.pop("rho")
        for k, v in kwargs.items():
            self.kwargs[_RENAME.get(k, k)] = v

    def build(self, params) -> torch.optim.Optimizer:
        cls, defaults = KERAS_DEFAULTS[self.key]
        args = {**defaults, **self.kwargs}
        try:
            return cls(params, **args)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}: {e}") from None

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


def _make(key, cls_name):
    return type(cls_name, (KerasOptimizer,), {"key": key, "__doc__": f"Keras-style ``{cls_name}`` -> ``{KERAS_DEFAULTS[key][0].__name__}``."})


SGD = _make("sgd", "SGD")
Adam = _make("adam", "Adam")
AdamW = _make("adamw", "AdamW")
RMSprop = _make("rmsprop", "RMSprop")
Adagrad = _make("adagrad", "Adagrad")
Adadelta = _make("adadelta", "Adadelta")
Nadam = _make("nadam", "Nadam")


def get(identifier, params) -> torch.optim.Optimizer:
    """A torch optimizer over ``params`` from a name, a KerasOptimizer, a torch class or an instance."""
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, KerasOptimizer):
        return identifier.build(params)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in KERAS_DEFAULTS:
            raise unknown_name_error("optimizer", identifier, KERAS_DEFAULTS, where="compile")
        cls, defaults = KERAS_DEFAULTS[key]
        return cls(params, **defaults)
    if isinstance(identifier, type) and issubclass(identifier, KerasOptimizer):
        return identifier().build(params)
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        return identifier(params)
    if callable(identifier):  # e.g. functools.partial(torch.optim.SGD, lr=0.1)
        opt = identifier(params)
        if isinstance(opt, torch.optim.Optimizer):
            return opt
    raise TypeError(
        f"compile: optimizer must be a name ({', '.join(KERAS_DEFAULTS)}), a torch.optim optimizer or "
        f"class, or seqlayers.training.optimizers.Adam(...) and friends; got {type(identifier).__name__}."
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = float(lr)


def get_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


__all__ = ["KERAS_DEFAULTS", "KerasOptimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
           "Nadam", "get", "set_learning_rate", "get_learning_rate"]
