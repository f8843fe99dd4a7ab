"""History: what ``fit`` returns, the per-epoch logs (``history.history["loss"]``...)."""
from __future__ import annotations

from .callbacks import Callback


class History(Callback):
    """Records every epoch's logs.

    Attributes:
        history: ``{"loss": [...], "val_loss": [...], ...}``, one float per epoch run.
        epoch: the epoch indices run (0-based; they start at ``initial_epoch``).
        params: ``epochs``, ``steps``, ``verbose`` of the ``fit`` call.
        stop_reason: why training stopped before its last epoch (which callback, and the reason it
            gave, e.g. ``"TerminateOnNaN: the loss is nan at epoch 3, batch 7"``), or None when it ran
            every epoch.
        first_nonfinite: ``(epoch, batch)`` (0-based) of the first batch whose loss was NaN or inf
            (``fit`` warns once when it sees one), or None.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stop_reason: str | None = None
        self.first_nonfinite: tuple[int, int] | None = None

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.stop_reason = None

    def on_train_end(self, logs=None):
        self.stop_reason = getattr(self.loop, "stop_reason", None)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


__all__ = ["History"]
