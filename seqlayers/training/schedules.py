"""Learning-rate schedules (Keras's ``keras.optimizers.schedules``): ``learning_rate=`` of any optimizer.

A schedule maps the optimizer's update count (``optimizer.iterations``: 0 for the first update) to
the learning rate of that update, with Keras 3's formulas::

    ExponentialDecay:        lr0 * decay_rate ** (step / decay_steps)      (floor of it: staircase=True)
    CosineDecay:             lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha),
                             after a linear warm-up from lr0 to warmup_target over warmup_steps when given
    PiecewiseConstantDecay:  values[i] while boundaries[i-1] < step <= boundaries[i]

``SGD(learning_rate=ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5))``; the optimizer sets
the rate before each update, and its ``learning_rate`` then cannot be set by hand (as in Keras).
"""
from __future__ import annotations

import math


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``; ``get_config()`` / ``from_config()``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _positive(who: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{who}: {name} must be a positive number, got {value!r}.")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: the rate of the first update.
        decay_steps: the number of updates over which the rate is multiplied by ``decay_rate``.
        decay_rate: the factor per ``decay_steps`` updates.
        staircase: decay in steps (``floor(step / decay_steps)``) instead of smoothly.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        _positive("ExponentialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """A cosine from the rate down to ``alpha`` times it over ``decay_steps``, after an optional warm-up.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: the number of updates of the cosine (the rate stays at its end afterwards).
        alpha: the final rate as a fraction of the rate the cosine starts from.
        warmup_target: with ``warmup_steps``, the rate rises linearly from ``initial_learning_rate``
            to ``warmup_target``, and the cosine then starts from ``warmup_target``.
        warmup_steps: the length of the warm-up in updates.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _positive("CosineDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def _decay(self, step: float, start: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + delta * step / self.warmup_steps
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to ``boundaries[0]`` (inclusive), ``values[1]`` up to ``boundaries[1]``, ...

    Args:
        boundaries: increasing update counts where the rate changes.
        values: one more rate than boundaries.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values must have one more element than boundaries; got "
                             f"{len(boundaries)} boundaries and {len(values)} values.")
        if any(b >= a for a, b in zip(boundaries[1:], boundaries)):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {boundaries}.")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step: int) -> float:
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return float(v)
        return float(self.values[-1])

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


__all__ = ["CosineDecay", "ExponentialDecay", "LearningRateSchedule", "PiecewiseConstantDecay"]
