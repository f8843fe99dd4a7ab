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

Every optimizer built from a name or a factory also takes Keras's gradient options (Keras 3
semantics, applied in ``step()``, so a custom ``train_step`` gets them too):

* ``clipnorm``: each weight's gradient is rescaled to L2 norm at most ``clipnorm`` on its own;
* ``global_clipnorm``: all gradients together are rescaled to a global L2 norm at most
  ``global_clipnorm`` (a non-finite global norm makes every gradient NaN, as in Keras);
* ``clipvalue``: each gradient element is clipped to ``[-clipvalue, clipvalue]``;
* ``gradient_accumulation_steps=k``: the weights change every ``k``-th ``step()`` only, with the
  average of the gradients of the last ``k`` batches (``zero_grad`` keeps them meanwhile).

At most one of the three clipping options may be set (as in Keras). The optimizer counts its
updates in ``iterations`` and exposes ``learning_rate`` (read and write, as Keras's: a callback or
the user between ``fit`` calls may set ``model.optimizer.learning_rate = 1e-4``). A schedule from
``schedules.py`` (``ExponentialDecay``, ``CosineDecay``, ``PiecewiseConstantDecay``) is accepted as
``learning_rate``: the rate of each update is ``schedule(iterations)``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import unknown_name_error
from .schedules import LearningRateSchedule

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


if TYPE_CHECKING:  # the mixin is only ever combined with a torch.optim class (keras_class): type it as one
    _OptimizerBase = torch.optim.Optimizer
else:
    _OptimizerBase = object


class KerasSteps(_OptimizerBase):
    """Mixed into a ``torch.optim`` class: Keras's clipping, gradient accumulation, ``iterations``
    and ``learning_rate`` (see the module docstring)."""

    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    gradient_accumulation_steps: int | None = None

    schedule: LearningRateSchedule | None = None

    def configure(self, clipnorm=None, clipvalue=None, global_clipnorm=None, gradient_accumulation_steps=None,
                  schedule=None):
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.schedule = schedule
        self.iterations = 0      # updates applied
        self._accumulated = 0    # batches summed into the gradients since the last update
        if schedule is not None:
            _set_groups_lr(self, schedule(0))
        return self

    @property
    def learning_rate(self) -> float:
        """The rate of the next update (with a schedule: ``schedule(iterations)``, as Keras reports it)."""
        return self.schedule(self.iterations) if self.schedule is not None else float(self.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if self.schedule is not None:
            raise TypeError(f"{type(self).__name__}: the learning rate follows the schedule {self.schedule!r} "
                            f"given as learning_rate, so it cannot be set; build the optimizer with a number as "
                            f"learning_rate to set it by hand (as in Keras).")
        _set_groups_lr(self, value)

    def state_dict(self) -> dict:
        """torch's state dict, with ``iterations`` (and the accumulation count) in the first param group, so a
        resumed run continues its schedule and its accumulation where it stopped."""
        sd = super().state_dict()
        if sd["param_groups"]:
            sd["param_groups"][0].update(keras_iterations=self.iterations, keras_accumulated=self._accumulated)
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        group = self.param_groups[0] if self.param_groups else {}
        self.iterations = int(group.pop("keras_iterations", 0))
        self._accumulated = int(group.pop("keras_accumulated", 0))

    def _grads(self) -> list:
        return [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self._accumulated:  # in the middle of an accumulation: keep summing
            return
        super().zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        k = self.gradient_accumulation_steps
        if k:
            self._accumulated += 1
            if self._accumulated < k:
                return None
            self._accumulated = 0
            with torch.no_grad():
                for grad in self._grads():
                    grad.div_(k)
        if self.clipnorm or self.clipvalue or self.global_clipnorm:
            with torch.no_grad():
                clip_gradients(self._grads(), self.clipnorm, self.clipvalue, self.global_clipnorm)
        if self.schedule is not None:
            _set_groups_lr(self, self.schedule(self.iterations))
        if isinstance(self, torch.optim.SGD):
            _rescale_momentum(self)
        out = super().step(closure)
        self.iterations += 1
        return out


def _rescale_momentum(optimizer: torch.optim.Optimizer) -> None:
    """Keras's SGD keeps its velocity in weight units (``v = m * v - lr * g``); torch's keeps gradient
    units and multiplies by the current rate (``b = m * b + g; w -= lr * b``). The two agree while the rate
    stays; when it changes (a callback, a schedule) the buffer is rescaled by ``old / new`` so the next
    updates are Keras's."""
    for group in optimizer.param_groups:
        lr, last = float(group["lr"]), group.get("keras_last_lr")
        group["keras_last_lr"] = lr
        if not group.get("momentum") or last is None or last == lr or lr == 0.0:
            continue
        for p in group["params"]:
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                buf.mul_(last / lr)


def clip_gradients(grads: list, clipnorm=None, clipvalue=None, global_clipnorm=None) -> None:
    """Keras 3's ``_clip_gradients``, in place: per weight norm, else global norm, else value."""
    if clipnorm and clipnorm > 0:
        for g in grads:
            norm = torch.linalg.vector_norm(g)
            g.mul_(clipnorm / torch.clamp(norm, min=clipnorm))  # a zero gradient stays zero
    elif global_clipnorm and global_clipnorm > 0:
        if not grads:
            return
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g).float() for g in grads]))
        scale = global_clipnorm * torch.minimum(1.0 / norm, torch.tensor(1.0 / global_clipnorm)) + (norm - norm)
        for g in grads:
            g.mul_(scale.to(g.dtype))
    elif clipvalue and clipvalue > 0:
        for g in grads:
            g.clamp_(-clipvalue, clipvalue)


_STEP_CLASSES: dict[type, type] = {}


def keras_class(cls: type) -> type:
    """``cls`` (a ``torch.optim`` class) with ``KerasSteps`` mixed in (one class per torch class)."""
    if cls not in _STEP_CLASSES:
        _STEP_CLASSES[cls] = type(cls.__name__, (KerasSteps, cls), {"__module__": __name__,
                                                                    "__doc__": cls.__doc__})
    return _STEP_CLASSES[cls]


def _check_gradient_options(who: str, clipnorm, clipvalue, global_clipnorm, gradient_accumulation_steps) -> None:
    given = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                               ("global_clipnorm", global_clipnorm)) if v is not None}
    if len(given) > 1:
        raise ValueError(f"{who}: only one of clipnorm, clipvalue and global_clipnorm can be set (as in Keras); "
                         f"got {', '.join(f'{k}={v}' for k, v in given.items())}. Keep the one you mean.")
    for k, v in given.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{who}: {k} must be a positive number, got {v!r}.")
    k = gradient_accumulation_steps
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 2):
        raise ValueError(f"{who}: gradient_accumulation_steps must be an integer >= 2 (or None), got {k!r}.")


class KerasOptimizer:
    """A Keras-style optimizer description, turned into a torch optimizer by ``compile``.

    ``Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7, clipnorm=1.0)``;
    ``build(params)`` returns the ``torch.optim`` optimizer (with ``KerasSteps``).

    Args:
        learning_rate: the step size (Keras 2's ``lr=`` is accepted).
        clipnorm, clipvalue, global_clipnorm: gradient clipping, Keras semantics (module docstring).
        gradient_accumulation_steps: update every k-th step with the mean gradient of k batches.
        **kwargs: the optimizer's own Keras arguments (``beta_1``, ``rho``, ``epsilon``, ``momentum``...).
    """

    key = "sgd"

    def __init__(self, learning_rate=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 gradient_accumulation_steps=None, **kwargs):
        if "lr" in kwargs:  # Keras 2 spelling
            learning_rate = kwargs.pop("lr")
        _check_gradient_options(type(self).__name__, clipnorm, clipvalue, global_clipnorm,
                                gradient_accumulation_steps)
        self.gradient_options = dict(clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                                     gradient_accumulation_steps=gradient_accumulation_steps)
        self.kwargs = {}
        self._built: KerasSteps | None = None
        if isinstance(learning_rate, LearningRateSchedule):
            self.gradient_options["schedule"] = learning_rate
        elif learning_rate is not None:
            self.kwargs["lr"] = float(learning_rate)
        b1, b2 = kwargs.pop("beta_1", None), kwargs.pop("beta_2", None)
        if b1 is not None or b2 is not None:
            d = KERAS_DEFAULTS[self.key][1].get("betas", (0.9, 0.999))
            self.kwargs["betas"] = (d[0] if b1 is None else b1, d[1] if b2 is None else b2)
        if self.key == "rmsprop" and "rho" in kwargs:
            self.kwargs["alpha"] = kwargs.pop("rho")
        for k, v in kwargs.items():
            self.kwargs[_RENAME.get(k, k)] = v

    def build(self, params) -> KerasSteps:
        cls, defaults = KERAS_DEFAULTS[self.key]
        args = {**defaults, **self.kwargs}
        try:
            opt = keras_class(cls)(params, **args)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}: {e}") from None
        self._built = opt.configure(**self.gradient_options)
        return self._built

    @property
    def learning_rate(self) -> float:
        """The built optimizer's rate (as ``keras.optimizers.Adam(...).learning_rate``), else the configured one."""
        if self._built is not None:
            return self._built.learning_rate
        if self.gradient_options.get("schedule") is not None:
            return self.gradient_options["schedule"](0)
        return float(self.kwargs.get("lr", KERAS_DEFAULTS[self.key][1]["lr"]))

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if self._built is not None:
            self._built.learning_rate = value
        self.kwargs["lr"] = float(value)

    @property
    def iterations(self) -> int:
        return self._built.iterations if self._built is not None else 0

    def __repr__(self):
        given = {**self.kwargs, **{k: v for k, v in self.gradient_options.items() if v is not None}}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in given.items())})"


def _make(key, cls_name):
    doc = f"Keras-style ``{cls_name}`` -> ``{KERAS_DEFAULTS[key][0].__name__}``."
    return type(cls_name, (KerasOptimizer,), {"key": key, "__doc__": doc})


SGD = _make("sgd", "SGD")
Adam = _make("adam", "Adam")
AdamW = _make("adamw", "AdamW")
RMSprop = _make("rmsprop", "RMSprop")
Adagrad = _make("adagrad", "Adagrad")
Adadelta = _make("adadelta", "Adadelta")
Nadam = _make("nadam", "Nadam")
_BY_KEY = {c.key: c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Nadam)}


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
        return _BY_KEY[key]().build(params)
    if isinstance(identifier, type) and issubclass(identifier, KerasOptimizer):
        return identifier().build(params)
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        # (a torch.optim subclass takes (params, **hyperparameters); only the base class needs defaults)
        return identifier(params)  # type: ignore[call-arg]
    if callable(identifier):  # e.g. functools.partial(torch.optim.SGD, lr=0.1)
        opt = identifier(params)
        if isinstance(opt, torch.optim.Optimizer):
            return opt
    raise TypeError(
        f"compile: optimizer must be a name ({', '.join(KERAS_DEFAULTS)}), a torch.optim optimizer or "
        f"class, or seqlayers.training.optimizers.Adam(...) and friends; got {type(identifier).__name__}."
    )


def description(identifier) -> KerasOptimizer | None:
    """The Keras-style description behind ``identifier`` (a name or a ``KerasOptimizer``), else None."""
    if isinstance(identifier, KerasOptimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_KEY:
        return _BY_KEY[identifier.lower()]()
    if isinstance(identifier, type) and issubclass(identifier, KerasOptimizer):
        return identifier()
    return None


def _set_groups_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = float(lr)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the rate of every param group (through ``learning_rate`` for Keras-style optimizers, so an
    optimizer following a schedule refuses, as in Keras)."""
    if isinstance(optimizer, KerasSteps):
        optimizer.learning_rate = lr
    else:
        _set_groups_lr(optimizer, lr)


def get_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The rate of the next update (a schedule's value for Keras-style optimizers following one)."""
    if isinstance(optimizer, KerasSteps):
        return optimizer.learning_rate
    return float(optimizer.param_groups[0]["lr"])


__all__ = [
    "KERAS_DEFAULTS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "KerasOptimizer",
    "KerasSteps",
    "Nadam",
    "RMSprop",
    "clip_gradients",
    "description",
    "get",
    "get_learning_rate",
    "keras_class",
    "set_learning_rate",
]
