"""Keras callbacks for ``fit``: hooks around epochs and batches.

A callback sees ``self.model``, ``self.params`` (``epochs``, ``steps``, ``verbose``) and, during
``fit``, ``self.loop`` (a ``LoopState``, see ``loop_state.py``: epoch, batch, iterations, optimizer,
shuffling generator, stop reason). Setting ``model.stop_training = True`` (or calling
``self.loop.stop(reason)``) ends training after the current batch; ``History.stop_reason`` then
names the callback (and the reason it gave).

Callbacks run in the order given, except those with ``runs_last = True`` (``BackupAndRestore``),
which run after all the others, so that a backup holds every other callback's view of the epoch
and a restore comes after every other callback has reset itself in ``on_train_begin``.

Files (``ModelCheckpoint``, ``CSVLogger``, ``BackupAndRestore``) are written by rank 0 only when
training under ``torchrun``; checkpoints and backups are crash-safe (see ``checkpoint.py``).
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import warnings
from collections.abc import Callable

import numpy as np

from .. import model_files
from . import distributed
from .checkpoint import (
    read_training_state,
    save_model_atomically,
    save_weights,
    write_training_state,
)
from .optimizers import get_learning_rate, set_learning_rate

_printer: list = []  # the progress channel's printer: progress.py (which imports this module) hands it over


def provide_printer(printer) -> None:
    """Called once by ``progress.py``: the function that prints a line on the progress channel."""
    _printer[:] = [printer]


def print_msg(text: str) -> None:
    """A callback's own message (``verbose=1``) on the progress channel, by rank 0 only (Keras's
    ``io_utils.print_msg``); printed also under ``fit(verbose=0)``, as Keras's are."""
    if _printer and distributed.is_main():
        _printer[0](text)


def _best_text(best) -> str:
    return "None" if best is None or (isinstance(best, float) and math.isinf(best)) else f"{best:.5f}"


class Callback:
    """Base class; override the hooks you need. ``logs`` is a dict of floats."""

    runs_last = False  # True: run after the other callbacks (see the module docstring)

    def __init__(self):
        self.model = None
        self.params: dict = {}
        self.loop = None  # the LoopState of the running fit (None outside fit)

    def set_model(self, model):
        self.model = model

    def set_params(self, params: dict):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...

    def state_dict(self):
        """``(json_dict, tensor_dict)`` that ``BackupAndRestore`` saves with the run, or None (no state)."""
        return None

    def load_state_dict(self, meta: dict, tensors: dict) -> None:
        """Restore what ``state_dict`` returned (called by ``BackupAndRestore`` when resuming)."""

    @property
    def _optimizer(self):
        if self.loop is not None and self.loop.optimizer is not None:
            return self.loop.optimizer
        return getattr(self.model, "optimizer", None)

    def _stop(self, reason: str) -> None:
        """Stop training, recording ``reason`` in the loop state (and so in ``History.stop_reason``)."""
        if self.loop is not None:
            self.loop.stop(reason)
        else:
            self.model.stop_training = True


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
          "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class CallbackList:
    """Calls a hook on every callback in order (``runs_last`` callbacks after the others); records in
    the loop state which callback stopped training."""

    def __init__(self, callbacks, model=None, params=None, loop=None, who: str = "fit"):
        callbacks = list(callbacks or [])  # arguments.callback_list has checked what the user passed
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"{who}: callbacks must be Callback objects, got {type(cb).__name__}.")
        self.callbacks = [cb for cb in callbacks if not cb.runs_last] + [cb for cb in callbacks if cb.runs_last]
        self.model, self.loop = model, loop
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params or {})
            cb.loop = loop

    def wants(self, hook: str) -> bool:
        """Whether any callback overrides ``hook`` (so batch logs are only computed when needed)."""
        base = getattr(Callback, hook)
        return any(getattr(getattr(cb, hook), "__func__", getattr(cb, hook)) is not base
                   and getattr(cb, "needs_batch_logs", True) for cb in self.callbacks)

    def __getattr__(self, hook):
        if hook not in _HOOKS:
            raise AttributeError(hook)

        n = 1 if hook.endswith(("_train_begin", "_train_end", "_test_begin", "_test_end", "_predict_begin",
                                 "_predict_end")) else 2

        def call(*args):
            if len(args) < n:
                args = args + ({},)  # hooks always receive logs (LambdaCallback functions expect them)
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
                if self.loop is not None and self.loop.stop_reason is None and \
                        getattr(self.model, "stop_training", False):
                    self.loop.stop_reason = (f"{type(cb).__name__} set model.stop_training in {hook} "
                                             f"(epoch {self.loop.epoch + 1}, batch {self.loop.batch + 1})")

        return call


# ---------------------------------------------------------------- monitoring helpers
def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    if any(k in monitor for k in ("acc", "precision", "recall", "f1", "auc")):
        return "max"
    return "min"


def _monitored(logs, monitor, who):
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(
            f"{who}: the metric {monitor!r} is not in the logs (available: {', '.join(sorted(logs or {}))}). "
            f"Pass validation data for 'val_*' metrics, or compile with the metric.", RuntimeWarning, stacklevel=3)
    return value


class EarlyStopping(Callback):
    """Stop training when ``monitor`` stops improving by at least ``min_delta`` for ``patience`` epochs.

    ``restore_best_weights`` puts back the best epoch's weights at the end (as Keras: also when the
    run ends without stopping early, provided the best epoch was seen); ``start_from_epoch`` skips the
    first epochs (warm-up) before counting.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.mode = _resolve_mode(mode, monitor, "EarlyStopping")
        self.min_delta = abs(min_delta) * (1 if self.mode == "max" else -1)
        self.stopped_epoch = 0

    def _better(self, a, b):
        return a - self.min_delta > b if self.mode == "max" else a - self.min_delta < b

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -math.inf if self.mode == "max" else math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_state(self.model)
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state(self.model)
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self._stop(f"EarlyStopping: {self.monitor} did not improve for {self.wait} epochs "
                       f"(best {self.best:.6g} at epoch {self.best_epoch + 1})")

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")  # Keras's messages
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)

    def state_dict(self):
        meta = {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "has_best_weights": self.best_weights is not None}
        return meta, dict(self.best_weights or {})

    def load_state_dict(self, meta, tensors):
        self.wait, self.best, self.best_epoch = meta["wait"], meta["best"], meta["best_epoch"]
        self.stopped_epoch = meta["stopped_epoch"]
        self.best_weights = dict(tensors) if meta["has_best_weights"] else None


def _copy_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) after each epoch, crash-safe.

    ``filepath`` may hold ``{epoch}`` and log names, e.g. ``"ckpt/{epoch:02d}-{val_loss:.3f}.safetensors"``
    (epochs count from 1, as in Keras). ``save_best_only`` keeps the file of the best ``monitor``
    value only. Weights are safetensors plus a JSON sidecar; whole models go through
    ``seqlayers.io.saving.save_model`` when it is available.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported.")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _resolve_mode(mode, monitor, "ModelCheckpoint")
        self.best = initial_value_threshold if initial_value_threshold is not None else (
            -math.inf if self.mode == "max" else math.inf)

    def state_dict(self):
        return {"best": self.best}, {}

    def load_state_dict(self, meta, tensors):
        self.best = meta["best"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {e}, which is not in the logs "
                           f"({', '.join(sorted(logs))}).") from None
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if value is None:
                return
            if not (value > self.best if self.mode == "max" else value < self.best):
                if self.verbose:
                    print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {_best_text(self.best)}")
                return
            if self.verbose:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {_best_text(self.best)} to "
                          f"{value:.5f}, saving model to {path}")
            self.best = value
        elif self.verbose:
            print_msg(f"\nEpoch {epoch + 1}: saving model to {path}")
        if not distributed.is_main():
            return
        if self.save_weights_only and path.endswith(".weights.h5"):
            model_files.save_weights(self.model, path)  # Keras's HDF5 layout, as the suffix says
        elif self.save_weights_only:
            save_weights(self.model, path)
        else:
            save_model_atomically(self.model, path)
        if self.verbose:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {path}")


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1 (it multiplies the learning rate), got {factor}.")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode = _resolve_mode(mode, monitor, "ReduceLROnPlateau")
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = -math.inf if self.mode == "max" else math.inf

    def state_dict(self):
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}, {}

    def load_state_dict(self, meta, tensors):
        self.wait, self.cooldown_counter, self.best = meta["wait"], meta["cooldown_counter"], meta["best"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = self._optimizer
        if opt is not None:
            logs["learning_rate"] = get_learning_rate(opt)
        value = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        if value is None or opt is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = get_learning_rate(opt)
                if old > self.min_lr:
                    set_learning_rate(opt, max(old * self.factor, self.min_lr))
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch, lr)`` (or ``schedule(epoch)``)."""

    def __init__(self, schedule: Callable, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self._optimizer
        lr = get_learning_rate(opt)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        if not isinstance(new, (float, int, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, got {type(new).__name__}.")
        set_learning_rate(opt, float(new))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self._optimizer)


class CSVLogger(Callback):
    """Write one row per epoch (``epoch`` then the logs, sorted by name) to a CSV file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        self.keys = None
        self._header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0)
        self._mode = "a" if self.append else "w"

    def on_epoch_end(self, epoch, logs=None):
        if not distributed.is_main():
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, self._mode, newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter=self.sep)
            if self._header:
                w.writerow(["epoch"] + self.keys)
                self._header = False
            w.writerow([epoch] + [logs.get(k, "NA") for k in self.keys])
        self._mode = "a"


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite (Keras's ``TerminateOnNaN``).

    Args:
        raise_error: False (default): stop after the batch, as ``model.stop_training = True`` does
            (every callback's ``on_train_end`` runs; ``History.stop_reason`` says why). True: raise a
            ``RuntimeError`` at once (``on_train_end`` hooks do not run, so e.g. a backup stays as it was).
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        epoch = self.loop.epoch + 1 if self.loop is not None else None
        where = f"epoch {epoch}, batch {batch + 1}" if epoch is not None else f"batch {batch + 1}"
        reason = f"TerminateOnNaN: the loss is {float(loss)} at {where}"
        if self.raise_error:
            raise RuntimeError(reason + "; training stopped (raise_error=True).")
        self._stop(reason)


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if name not in _HOOKS:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; hooks are {', '.join(_HOOKS)}.")
            setattr(self, name, fn)


class BackupAndRestore(Callback):
    """Resume an interrupted run where it stopped, ending with the same weights as an uninterrupted one.

    After every epoch (after all other callbacks have seen it: ``runs_last``),
    ``backup_dir/state.safetensors`` receives atomically the loop state's ``state_dict()`` (see
    ``loop_state.py``): the weights, the optimizer state, the epoch, the states of every random
    generator (Python, numpy, torch, CUDA, and ``fit``'s shuffling generator) and the states of the
    other callbacks that keep one (``EarlyStopping``'s best value and best weights,
    ``ReduceLROnPlateau``, ``ModelCheckpoint``'s best). Running the same command again after a
    crash (even SIGKILL) hands the file to ``loop.load_state_dict`` and continues with the next
    epoch. The backup is deleted when training completes (``delete_checkpoint=False`` keeps it).
    """

    FILE = "state.safetensors"
    runs_last = True

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("BackupAndRestore: only save_freq='epoch' is supported.")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint

    @property
    def path(self):
        return os.path.join(self.backup_dir, self.FILE)

    def on_train_begin(self, logs=None):
        if self.loop is None or not os.path.exists(self.path):
            return
        meta, tensors = read_training_state(self.path)
        self.loop.load_state_dict(meta, tensors)

    def on_epoch_end(self, epoch, logs=None):
        if self.loop is None:
            return
        if distributed.is_main():
            meta, tensors = self.loop.state_dict(exclude=self)
            write_training_state(self.path, meta, tensors)
        distributed.barrier()

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and distributed.is_main():
            if os.path.isdir(self.backup_dir):
                shutil.rmtree(self.backup_dir, ignore_errors=True)


__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
