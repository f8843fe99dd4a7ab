"""Keras-style training: compile/fit/evaluate/predict, losses, metrics, optimizers, callbacks.

The model methods (``model.fit(...)``) delegate to ``seqlayers.training.engine``; each concept has
its own module: ``losses``, ``metrics``, ``optimizers``, ``callbacks`` (+ ``history``,
``progress``), ``data_adapter`` (what ``x``/``y`` may be), ``checkpoint`` (crash-safe files),
``seeding`` and ``distributed`` (torchrun / DDP).
"""
from . import callbacks, losses, metrics, optimizers
from .callbacks import (
    BackupAndRestore, Callback, CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler, ModelCheckpoint,
    ReduceLROnPlateau, TerminateOnNaN,
)
from .data_adapter import pad_ragged
from .history import History
from .seeding import set_seed

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TerminateOnNaN", "callbacks", "losses",
    "metrics", "optimizers", "pad_ragged", "set_seed",
]
