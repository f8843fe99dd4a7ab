"""``keras.optimizers.schedules``'s names: a re-export of ``seqlayers.training.schedules``."""
from ..training.schedules import (
    CosineDecay,
    ExponentialDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
)

__all__ = ["CosineDecay", "ExponentialDecay", "LearningRateSchedule", "PiecewiseConstantDecay"]
