"""History: what ``fit`` returns, the per-epoch logs (``history.history["loss"]``...)."""
from __future__ import annotations

from .callbacks import Callback


class History(Callback):
    """Records every epoch's logs.

    Attributes:
        history: ``{"loss": [...], "val_loss": [...], ...}``, one float per epoch run.
        epoch: the epoch indices run (0-based; they start at ``initial_epoch``).
        params: ``epochs``, ``steps``, ``verbose`` of the ``fit`` call.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


__all__ = ["History"]
