"""``keras.callbacks``'s names: a re-export of ``seqlayers.training.callbacks`` (and ``History``)."""
from .training.callbacks import (
    BackupAndRestore,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from .training.history import History
from .training.tensorboard import TensorBoard

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TensorBoard",
           "TerminateOnNaN"]
