"""``LoopState``: where a ``fit`` run stands, the one object callbacks read and backups save.

During ``fit`` every callback has ``self.loop``, a ``LoopState``::

    loop.epoch, loop.batch        # the epoch (0-based) and the batch within it now running
    loop.epochs, loop.steps       # the planned epochs and batches per epoch (None: unknown length)
    loop.initial_epoch            # where this run started (Keras's ``initial_epoch``, or a resumed epoch)
    loop.iterations               # optimizer steps taken in this run (batches trained)
    loop.optimizer, loop.generator  # the torch optimizer and the shuffling generator
    loop.stop_reason              # why training stopped early, or None (also ``History.stop_reason``)

Saving and resuming a run go through one interface, ``state_dict()`` / ``load_state_dict()``:
the model's weights, the optimizer state (with its update count), the epoch just finished, the
random generators (Python, numpy, torch, CUDA and the shuffling generator), the states of the
callbacks that keep one (``Callback.state_dict``), and the summed gradients when an epoch ends in
the middle of a gradient accumulation. ``BackupAndRestore`` writes ``state_dict()`` after every epoch and, when
resuming, hands the file back to ``load_state_dict``, which sets ``initial_epoch`` to the epoch
after the saved one. Callbacks that save the loop (``runs_last = True``) run after all the others,
so what they save includes every other callback's view of the epoch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .callbacks import Callback
from .checkpoint import apply_training_state, training_state


@dataclass
class LoopState:
    """The state of one ``fit`` run (see the module docstring)."""

    model: Any
    optimizer: torch.optim.Optimizer | None = None
    generator: torch.Generator | None = None
    epochs: int = 1
    steps: int | None = None
    initial_epoch: int = 0
    epoch: int = 0
    batch: int = 0
    iterations: int = 0
    stop_reason: str | None = None
    callbacks: list = field(default_factory=list)

    def stop(self, reason: str) -> None:
        """End training after the current batch, recording why (``History.stop_reason`` shows it)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.model.stop_training = True

    def _stateful_callbacks(self, exclude=None) -> dict:
        """The callbacks that keep a state, keyed ``ClassName.k`` (the k-th of its class)."""
        out: dict = {}
        counts: dict[str, int] = {}
        for cb in self.callbacks:
            if cb is exclude or type(cb).state_dict is Callback.state_dict:
                continue
            k = counts.get(type(cb).__name__, 0)
            counts[type(cb).__name__] = k + 1
            out[f"{type(cb).__name__}.{k}"] = cb
        return out

    def state_dict(self, exclude=None) -> tuple[dict, dict]:
        """``(meta, tensors)``: JSON-able metadata and named tensors (copies) for resuming after ``self.epoch``."""
        states, tensors = {}, {}
        for key, cb in self._stateful_callbacks(exclude).items():
            meta, tens = cb.state_dict()
            states[key] = meta
            tensors.update({f"{key}.{k}": v for k, v in tens.items()})
        if getattr(self.optimizer, "_accumulated", 0):  # in the middle of a gradient accumulation: keep the sum
            tensors.update({f"_grads.{i}": p.grad for i, p in enumerate(self.model.parameters())
                            if p.grad is not None})
        meta, tensors = training_state(self.model, self.optimizer, self.epoch, self.generator,
                                       extra={"callbacks": states, "iterations": self.iterations},
                                       extra_tensors=tensors)
        return meta, {k: v.clone() for k, v in tensors.items()}  # a snapshot: training goes on in place

    def load_state_dict(self, meta: dict, tensors: dict) -> None:
        """Put back what ``state_dict`` returned; training continues with the epoch after the saved one."""
        restored = apply_training_state(tensors, meta, self.model, self.optimizer, self.generator)
        self.initial_epoch = int(meta["epoch"]) + 1
        self.epoch = self.initial_epoch
        extra = meta.get("extra", {})
        self.iterations = int(extra.get("iterations", 0))
        states, extra_tensors = extra.get("callbacks", {}), restored
        for i, p in enumerate(self.model.parameters()):
            if f"_grads.{i}" in extra_tensors:
                p.grad = extra_tensors[f"_grads.{i}"].to(p.device)
        for key, cb in self._stateful_callbacks().items():
            if key in states:
                prefix = f"{key}."
                cb.load_state_dict(states[key], {k[len(prefix):]: v for k, v in extra_tensors.items()
                                                 if k.startswith(prefix)})


__all__ = ["LoopState"]
