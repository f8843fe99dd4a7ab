"""Progress display of ``fit``/``evaluate``/``predict``: the one channel through which the library prints.

``fit``, ``evaluate`` and ``predict`` add a ``ProgressLogger`` to their callbacks when ``verbose``
asks for output (and none was passed in ``callbacks``: pass your own, e.g. with another
``stream``, to redirect it; ``verbose=0`` turns it off).

* ``verbose=0``: silent.
* ``verbose=1`` (and ``"auto"``): a tqdm bar per epoch with the running loss and metrics when
  stdout is a terminal; when it is not (a log file, CI), one line per epoch instead, so logs hold
  no bar redraws. ``predict`` draws a bar on a terminal only; ``evaluate`` prints one line of logs.
* ``verbose=2``: one line per epoch: ``Epoch 3/10 - 1.2s - loss: 0.1234 - val_loss: 0.2345``.
* When training stops early, the reason (``History.stop_reason``) is printed at the end.

Under ``torchrun`` only rank 0 prints.
"""
from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

from . import callbacks
from .callbacks import Callback


def resolve_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 0 (silent), 1 (progress bar), 2 (one line per epoch) or 'auto', "
                         f"got {verbose!r}.")
    return int(verbose)


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressLogger(Callback):
    """Prints training progress as set by ``verbose`` (see the module docstring)."""

    needs_batch_logs = False  # reads the running values itself, at most 4 times a second

    def __init__(self, verbose: int = 1, stream=None, running_logs=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.running_logs = running_logs  # callable -> current epoch logs, for the bar's postfix
        self.bar = None

    @property
    def out(self):
        return self.stream or sys.stdout

    def _bar_mode(self) -> bool:
        return self.verbose == 1 and _is_tty(self.out)

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
        self.epoch = epoch
        epochs = self.params.get("epochs")
        if self._bar_mode():
            self.bar = tqdm(total=self.params.get("steps"), desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                            file=self.out, leave=True, dynamic_ncols=True)
            self._last = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if self.running_logs is not None and now - self._last > 0.25:
            self._last = now
            self.bar.set_postfix_str(format_logs(self.running_logs()), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        dt = time.perf_counter() - self.t0
        logs = logs or {}
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.close()
            self.bar = None
            return
        if self.verbose in (1, 2):
            epochs = self.params.get("epochs")
            text = f"Epoch {epoch + 1}/{epochs} - {dt:.1f}s"
            if logs:
                text += " - " + format_logs(logs)
            print(text, file=self.out, flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        reason = getattr(self.loop, "stop_reason", None)
        if reason and self.verbose:
            print(f"Training stopped early: {reason}.", file=self.out, flush=True)

    # -- evaluate: one line of logs at the end (not for fit's validation passes: those go in the epoch line)
    def on_test_end(self, logs=None):
        if self.params.get("mode") == "evaluate" and self.verbose:
            print(format_logs(logs or {}), file=self.out, flush=True)

    # -- predict: a bar on a terminal
    def on_predict_begin(self, logs=None):
        if self._bar_mode():
            self.bar = tqdm(total=self.params.get("steps"), desc="predict", unit="batch", file=self.out)

    def on_predict_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)

    def on_predict_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def print_msg(text: str) -> None:
    """One line of a callback's message (``ModelCheckpoint(verbose=1)``...) on stdout."""
    print(text, flush=True)


callbacks.provide_printer(print_msg)  # callbacks print through this channel (see callbacks.print_msg)

__all__ = ["ProgressLogger", "format_logs", "print_msg", "resolve_verbose"]
