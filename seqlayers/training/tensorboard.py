"""``TensorBoard``: Keras's callback that writes TensorBoard event files, with torch's writer.

Needs the ``tensorboard`` extra (``pip install 'seqlayers[tensorboard]'``): the files are written by
``torch.utils.tensorboard.SummaryWriter``, which the ``tensorboard`` package provides; read them with
``tensorboard --logdir LOG_DIR``.
"""
from __future__ import annotations

import os

from ..errors import require_extra
from . import distributed
from .callbacks import Callback
from .optimizers import get_learning_rate


class TensorBoard(Callback):
    """Write the training logs as TensorBoard event files, with Keras's layout and names.

    ``log_dir/train`` receives the training scalars and ``log_dir/validation`` the validation ones
    (the ``val_`` logs, without the prefix), so TensorBoard draws ``loss`` and ``val_loss`` as one
    chart with two runs, as for Keras:

    * every epoch: ``epoch_<name>`` for each log (``epoch_loss``, ``epoch_accuracy``...) and
      ``epoch_learning_rate`` (train), at step = the epoch (0-based);
    * with ``update_freq="batch"`` or an integer N: ``batch_<name>`` for each log of a training
      batch (the running means of the epoch so far, as the progress bar shows them) every N
      batches, at step = the number of batches trained so far in the run (1 after the first);
    * with ``histogram_freq=N``: every N epochs, one histogram per weight, tagged
      ``<layer name>/<torch parameter name>`` (e.g. ``dense/kernel``, ``lstm/cell/weight_ih``),
      at step = the epoch.

    Under ``torchrun`` only rank 0 writes. The writers are opened when training starts and
    closed when it ends.

    Args:
        log_dir: the folder of the event files (made if missing; default ``"logs"``).
        histogram_freq: draw the weight histograms every this many epochs; 0 (default) never.
        update_freq: ``"epoch"`` (default): epoch scalars only; ``"batch"``: also the batch
            scalars after every batch; an integer N: after every N-th batch.

    Raises:
        MissingExtraError: the ``tensorboard`` package is not installed.

    Examples:
        >>> import numpy as np, os, tempfile
        >>> model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
        >>> model.compile(optimizer="adam", loss="mse")
        >>> logs = tempfile.mkdtemp()
        >>> history = model.fit(np.zeros((8, 5, 2), "float32"), np.zeros((8, 1), "float32"), epochs=2,
        ...                     verbose=0, callbacks=[TensorBoard(log_dir=logs, update_freq="batch")])
        >>> sorted(os.listdir(logs))
        ['train']
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, update_freq="epoch"):
        super().__init__()
        require_extra("tensorboard", "tensorboard", "TensorBoard")
        if not (isinstance(histogram_freq, int) and not isinstance(histogram_freq, bool) and histogram_freq >= 0):
            raise ValueError(f"TensorBoard: histogram_freq must be an integer >= 0 (0: no histograms), "
                             f"got {histogram_freq!r}.")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and not isinstance(update_freq, bool)
                                           and update_freq >= 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or an integer >= 1 (every N "
                             f"batches), got {update_freq!r}.")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.update_freq = update_freq
        self._writers: dict = {}
        self._batches = 0

    def _writer(self, run: str):
        """The event writer of ``log_dir/run`` (``train`` or ``validation``), opened on first use."""
        if run not in self._writers:
            SummaryWriter = require_extra("torch.utils.tensorboard", "tensorboard", "TensorBoard").SummaryWriter
            self._writers[run] = SummaryWriter(log_dir=os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._batches = self.loop.iterations if self.loop is not None else 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq == "epoch" or self._batches % self.update_freq or not distributed.is_main():
            return
        writer = self._writer("train")
        for name, value in (logs or {}).items():
            writer.add_scalar(f"batch_{name}", float(value), self._batches)

    def on_epoch_end(self, epoch, logs=None):
        if not distributed.is_main():
            return
        logs = dict(logs or {})
        optimizer = self._optimizer
        if optimizer is not None and "learning_rate" not in logs:
            logs["learning_rate"] = get_learning_rate(optimizer)
        for name, value in logs.items():
            run, name = ("validation", name[len("val_"):]) if name.startswith("val_") else ("train", name)
            self._writer(run).add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._histograms(epoch)
        for writer in self._writers.values():
            writer.flush()

    def _histograms(self, epoch: int) -> None:
        writer = self._writer("train")
        layers = getattr(self.model, "layers", None) or [self.model]
        seen = set()
        for layer in layers:
            prefix = getattr(layer, "name", None) or type(layer).__name__.lower()
            for pname, p in layer.named_parameters():
                if id(p) in seen:  # a shared layer's weights once
                    continue
                seen.add(id(p))
                writer.add_histogram(f"{prefix}/{pname.replace('.', '/')}", p.detach().cpu(), epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


__all__ = ["TensorBoard"]
