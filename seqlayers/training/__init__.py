"""Keras-style training: compile/fit/evaluate/predict, losses, metrics, optimizers, callbacks.

Every model inherits the verbs (``model.fit(...)``) and the overridable ``train_step`` /
``test_step`` / ``predict_step`` from ``trainer.Trainer``; the loop around them is ``engine``, and
its state, which callbacks read and backups save, is ``loop_state.LoopState``. Each concept has
its own module: ``losses``, ``metrics``, ``optimizers`` (with Keras's clipping and gradient
accumulation), ``callbacks`` (+ ``history``, ``progress``: the one channel that prints),
``data_adapter`` (what ``x``/``y`` may be, and what a step receives), ``checkpoint`` (crash-safe
files), ``seeding`` and ``distributed`` (torchrun / DDP).
"""
from . import callbacks, losses, metrics, optimizers
from .callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from .data_adapter import pad_ragged
from .history import History
from .seeding import set_seed
from .tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN", "callbacks",
    "losses",
    "metrics", "optimizers", "pad_ragged", "set_seed",
]
