"""The loop behind ``Trainer`` (``trainer.py``): what ``compile`` records, the running trackers, and
one ``fit`` / evaluation / prediction run around the model's own ``train_step`` / ``test_step`` /
``predict_step``.

What happens in the default training step, for a model with outputs ``o_1..o_K``::

    outputs = model(x)                                  # model.train(): dropout on
    loss = sum_k loss_weight_k * loss_k(y_k, o_k, sample_weight_k, mask_k)
    loss.backward(); optimizer.step()

``mask_k`` is the mask attached to the output tensor (``Embedding(mask_zero=True)``, ``Masking``)
combined with the padding of targets given as ragged lists (attached to the target tensor by the
data adapter), so padded steps never count. Losses and metrics are computed per time step for
sequence outputs (see ``losses.py``). Logs: ``loss``, each metric by name,
``<output>_loss``/``<output>_<metric>`` when there are several outputs, and ``val_`` versions with
validation data. ``evaluate``/``predict`` run under ``model.eval()`` and ``torch.no_grad()``.

Under ``torchrun`` the loop runs data-parallel (see ``distributed.py``): ``batch_size`` is per
process, the global batch is ``WORLD_SIZE * batch_size``. The default ``train_step`` runs the
forward pass through ``DistributedDataParallel``; a custom ``train_step`` calling ``self(x)``
trains each process on its own shard without synchronising gradients.
"""
from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers.base import TRAINABLE_VERSION, Layer, get_mask, set_mask, trainable_parameters
from ..utils import flatten
from . import distributed
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from .arguments import callback_list, check_device, check_loss_weights
from .callbacks import CallbackList
from .data_adapter import (
    ClassWeights,
    LoaderData,
    check_finite,
    combine_masks,
    step_data,
    targets_list,
    to_device,
)
from .history import History
from .loop_state import LoopState
from .progress import ProgressLogger

#: ``compile(precision=...)`` values (Lightning's names and Keras's policy names) -> the canonical name.
PRECISIONS = {None: "32", "32": "32", "float32": "32", "32-true": "32",
              "bf16-mixed": "bf16-mixed", "mixed_bfloat16": "bf16-mixed",
              "16-mixed": "16-mixed", "mixed_float16": "16-mixed"}


# ---------------------------------------------------------------- compile
@dataclass
class CompiledState:
    """What ``compile`` recorded; losses and metrics are bound to the outputs on the first batch."""

    optimizer_spec: Any
    loss_spec: Any
    loss_weights: Any
    metrics_spec: Any
    device: Any = None
    precision: str = "32"
    optimizer: torch.optim.Optimizer | None = None
    description: Any = None               # the KerasOptimizer the torch optimizer is built from (a name's too)
    output_names: list[str] | None = None
    losses: list | None = None            # one Loss (or None) per output
    weights: list[float] | None = None    # one loss weight per output
    metrics: list[list] | None = None     # per output, the Metric objects
    trackers: Trackers | None = None      # the running loss / metric values (after the first batch)
    run_device: torch.device | None = None  # where the last run placed the model
    ddp: nn.Module | None = None          # the DistributedDataParallel forward of a torchrun fit
    scaler: Any = None                    # torch.amp.GradScaler for precision="16-mixed"
    trainable: list = field(default_factory=list)  # the parameters fit updates (Keras's trainable_weights)
    trainable_version: int = -1           # layers.base.TRAINABLE_VERSION when ``trainable`` was read
    extra: dict = field(default_factory=dict)


def compile_state(optimizer, loss, loss_weights, metrics, weighted_metrics, device, precision) -> CompiledState:
    """Validate ``compile``'s arguments (typos fail now, not on the first batch) and record them."""
    for spec in flatten(loss):
        if spec is not None:
            losses_mod.get(spec)
    for spec in flatten(metrics or []):
        metrics_mod.get(spec)
    if isinstance(optimizer, str):
        optimizers_mod.get(optimizer, [torch.zeros(1, requires_grad=True)])
    check_loss_weights(loss_weights)
    check_device(device, "compile")
    if precision not in PRECISIONS:
        raise ValueError(f"compile: precision must be one of {', '.join(repr(p) for p in PRECISIONS if p)}, "
                         f"got {precision!r}. 'bf16-mixed' runs the forward pass under bfloat16 autocast "
                         f"(CPU and GPU); '16-mixed' uses float16 autocast with loss scaling (GPU only).")
    if weighted_metrics:  # as Keras 3: only these see sample_weight / class_weight; `metrics` are unweighted
        weighted = [metrics_mod.get(m) for m in weighted_metrics]
        for m in weighted:
            m.weighted = True
        metrics = (metrics or []) + weighted if isinstance(metrics, (list, type(None))) else metrics
    state = CompiledState(optimizer, loss, loss_weights, metrics, device=device, precision=PRECISIONS[precision])
    if isinstance(optimizer, torch.optim.Optimizer):
        state.optimizer = optimizer
    state.description = optimizers_mod.description(optimizer)
    return state


def compiled(model, what: str) -> CompiledState:
    st = getattr(model, "_compiled", None)
    if st is None:
        raise RuntimeError(
            f"{what}: the model must be compiled first, e.g. model.compile(optimizer='adam', loss='mse')."
        )
    return st


# ---------------------------------------------------------------- outputs
def as_list(outputs, names=None) -> list:
    if isinstance(outputs, dict):
        return [outputs[k] for k in (names or list(outputs))]
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    return [outputs]


def _output_names(model, outputs) -> list[str]:
    if isinstance(outputs, dict):
        return list(outputs)
    n = len(outputs) if isinstance(outputs, (list, tuple)) else 1
    names = None
    try:
        names = list(model.output_names)
    except Exception:
        names = None
    if not names or len(names) != n or len(set(names)) != n:
        names = [f"output_{i}" for i in range(n)] if n > 1 else ["output"]
    return names


def _per_output(spec, names, what, default=None):
    """Expand a compile argument to one entry per output (a single value applies to each)."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} names output {unknown[0]!r}, but the outputs are {names}.")
        return [spec.get(k, default) for k in names]
    if isinstance(spec, (list, tuple)) and (len(names) > 1 or what == "loss_weights") \
            and what in ("loss", "loss_weights"):
        if len(spec) != len(names):
            raise ValueError(f"compile: the model has {len(names)} outputs ({', '.join(names)}), but {what} "
                             f"is a list of {len(spec)}. Give one per output, or a dict by output name.")
        return list(spec)
    return [spec] * len(names)


def _metric_lists(st: CompiledState, names: list[str]) -> list[list]:
    mspec = st.metrics_spec
    if mspec is None:
        return [[] for _ in names]
    if isinstance(mspec, dict):
        return _per_output(mspec, names, "metrics", [])
    if isinstance(mspec, (list, tuple)) and len(names) > 1 and mspec \
            and all(isinstance(m, (list, tuple)) for m in mspec):
        if len(mspec) != len(names):
            raise ValueError(f"compile: metrics is a list of {len(mspec)} lists but the model has {len(names)} "
                             f"outputs.")
        return list(mspec)
    return [mspec] * len(names)


def bind(st: CompiledState, model, outputs) -> None:
    """On the first batch: one loss, loss weight and metric list per output, and fresh trackers."""
    names = _output_names(model, outputs)
    st.output_names = names
    st.losses = [losses_mod.get(s) if s is not None else None for s in _per_output(st.loss_spec, names, "loss")]
    w = _per_output(st.loss_weights, names, "loss_weights", 1.0) if st.loss_weights is not None else [1.0] * len(names)
    st.weights = [1.0 if v is None else float(v) for v in w]
    st.metrics = []
    for m in _metric_lists(st, names):
        m = [] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m])
        st.metrics.append([metrics_mod.get(x) for x in m])
    # distinct objects per output (a Metric instance passed once is shared otherwise)
    seen = set()
    for ms in st.metrics:
        for j, m in enumerate(ms):
            if id(m) in seen:
                ms[j] = copy.deepcopy(m)
                ms[j].reset_state()
            seen.add(id(ms[j]))
    st.trackers = Trackers(st)
    st.trackers.reset()


@dataclass
class Term:
    """One output's share of a step: its index, prediction, target, mask and sample weights."""

    index: int
    y_pred: torch.Tensor
    y: Any
    mask: Any
    sample_weight: Any


def output_terms(st: CompiledState, model, y, y_pred, sample_weight) -> list[Term]:
    """Per output: prediction (float32 for the loss under mixed precision), target, mask, weights.
    The last result is kept for the same (y, y_pred, sample_weight), so the loss and the metrics of a
    step assemble it once (``compute_metrics`` lets it go)."""
    last = st.extra.get("terms")
    if last is not None and last[0] is y_pred and last[1] is y and last[2] is sample_weight:
        return last[3]
    terms = _assemble_terms(st, model, y, y_pred, sample_weight)
    st.extra["terms"] = (y_pred, y, sample_weight, terms)
    return terms


def _assemble_terms(st: CompiledState, model, y, y_pred, sample_weight) -> list[Term]:
    if st.losses is None:
        bind(st, model, y_pred)
    assert st.losses is not None and st.output_names is not None  # bind() set them
    outs = as_list(y_pred, st.output_names if isinstance(y_pred, dict) else None)
    n, names, has_loss = len(outs), st.output_names, [loss is not None for loss in st.losses]
    ys = targets_list(names, has_loss, y, n)
    sws = targets_list(names, has_loss, sample_weight, n, "sample_weight") \
        if isinstance(sample_weight, (dict, list, tuple)) else [sample_weight] * n
    terms = []
    for i, (out, yt, w) in enumerate(zip(outs, ys, sws)):
        mask = combine_masks(get_mask(out), get_mask(yt) if isinstance(yt, torch.Tensor) else None)
        if out.dtype in (torch.float16, torch.bfloat16):
            out = out.float()  # losses and metrics in float32, as Keras's mixed precision
        terms.append(Term(i, out, yt, mask, w))
    return terms


def batch_size_of(x) -> int:
    leaves = [t for t in flatten(x) if isinstance(t, torch.Tensor)]
    return int(leaves[0].shape[0]) if leaves else 1


# ---------------------------------------------------------------- trackers and logs
class Trackers:
    """The running loss (weighted by batch size, as Keras), per-output losses, and the compiled metrics."""

    def __init__(self, st: CompiledState):
        self.st = st
        assert st.output_names is not None and st.losses is not None and st.metrics is not None  # bound
        self.loss = metrics_mod.MeanMetricWrapper(lambda a, b: a, name="loss")
        self.outputs = [metrics_mod.MeanMetricWrapper(lambda a, b: a, name=f"{n}_loss") for n in st.output_names]

    def reset(self) -> None:
        for m in self.all():
            m.reset_state()

    def all(self) -> list:
        return [self.loss, *self.outputs, *(m for ms in self.st.metrics or [] for m in ms)]

    @staticmethod
    def add(tracker, value: torch.Tensor, batch_size: int) -> None:
        with torch.no_grad():
            count = torch.full((), float(batch_size), dtype=torch.float64, device=value.device)
            tracker._add(torch.stack([value.detach().to(torch.float64) * batch_size, count]))

    def items(self) -> list[tuple[str, Any]]:
        st = self.st
        assert st.output_names is not None and st.losses is not None and st.metrics is not None  # bound
        multi = len(st.output_names) > 1
        items = [("loss", self.loss)]
        if multi:
            items += [(tr.name, tr) for tr, loss in zip(self.outputs, st.losses) if loss is not None]
        for name, ms in zip(st.output_names, st.metrics):
            items += [(f"{name}_{m.name}" if multi else m.name, m) for m in ms]
        return items

    def logs(self, reduce: bool = True, prefix: str = "") -> dict:
        """Floats by name; ``reduce`` sums the states over torchrun processes first (every process calls it)."""
        dist = reduce and distributed.world_size() > 1
        out = {}
        for key, m in self.items():
            if m.state is None and not dist:
                continue
            if dist:
                saved = m.state
                m.state = distributed.all_reduce_sum(
                    saved if saved is not None else torch.zeros(2, dtype=torch.float64))
                value = m.result()
                m.state = saved
            else:
                value = m.result()
            out[prefix + key] = value if isinstance(value, np.ndarray) else float(value)  # per-class: F1Score()
        return out


class RunningLogs(Mapping):
    """What the default steps return: the running values by name, read (as floats) only when looked at,
    so a batch whose logs nobody reads costs no device synchronisation."""

    def __init__(self, trackers: Trackers):
        self.trackers = trackers
        self._cached: list | None = None

    @property
    def _items(self) -> list:
        if self._cached is None:
            self._cached = [(k, m) for k, m in self.trackers.items() if m.state is not None]
        return self._cached

    def __getitem__(self, key):
        for k, m in self._items:
            if k == key:
                value = m.result()
                return value if isinstance(value, np.ndarray) else float(value)
        raise KeyError(key)

    def __iter__(self):
        return (k for k, _ in self._items)

    def __len__(self):
        return len(self._items)


def floats(logs) -> dict:
    """A step's logs as a dict of Python floats (0-d tensors read, other values kept)."""
    out = {}
    for k, v in (logs or {}).items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = float(v)
        out[k] = v
    return out


@contextlib.contextmanager
def fresh_trackers(st: CompiledState):
    """Evaluation inside ``fit`` counts on its own trackers; training's running values come back after."""
    if st.trackers is None:
        yield
        return
    saved, states = st.trackers, [m.state for m in st.trackers.all()]
    st.trackers = Trackers(st)
    st.trackers.reset()
    try:
        yield
    finally:
        st.trackers = saved
        for m, s in zip(saved.all(), states):
            m.state = s


# ---------------------------------------------------------------- devices, precision and the forward
class _Forward(nn.Module):
    """``model(x)`` returning the outputs plus their masks (so DistributedDataParallel can carry the masks)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out, [get_mask(o) for o in as_list(out)]


def train_forward(model, st: CompiledState, x):
    """The training forward pass: through DistributedDataParallel under torchrun, else ``model(x)``."""
    if st.ddp is None:
        return model(x)
    out, masks = st.ddp(x)
    for o, m in zip(as_list(out), masks):
        set_mask(o, m)
    return out


def autocast(st: CompiledState):
    """``torch.autocast`` for ``precision='bf16-mixed'`` / ``'16-mixed'``; a no-op at full precision."""
    if st.precision == "32":
        return contextlib.nullcontext()
    dev = st.run_device.type if st.run_device is not None else "cpu"
    return torch.autocast(dev, dtype=torch.bfloat16 if st.precision == "bf16-mixed" else torch.float16)


def backward_and_step(st: CompiledState, optimizer, loss: torch.Tensor) -> None:
    """``zero_grad``, ``backward`` and ``step`` (through the loss scaler under ``precision='16-mixed'``);
    nothing when no weight is trainable (as Keras's train_step)."""
    if not st.trainable:
        return
    optimizer.zero_grad(set_to_none=True)
    if st.scaler is not None:
        st.scaler.scale(loss).backward()
        st.scaler.step(optimizer)
        st.scaler.update()
    else:
        loss.backward()
        optimizer.step()


def _check_precision(st: CompiledState, device: torch.device, who: str) -> None:
    if st.precision != "16-mixed":
        return
    if device.type != "cuda":
        raise ValueError(f"{who}: precision='16-mixed' (float16 with loss scaling) needs a CUDA device, but the "
                         f"model is on {device}. On CPU use precision='bf16-mixed'.")
    if getattr(st.optimizer, "gradient_accumulation_steps", None):
        raise ValueError(f"{who}: precision='16-mixed' does not combine with gradient_accumulation_steps (the "
                         f"loss scale may change between the accumulated batches); use precision='bf16-mixed'.")
    if st.scaler is None:
        st.scaler = torch.amp.GradScaler("cuda")


def resolve_device(requested, who: str) -> torch.device | None:
    """The device asked for (None: leave the model where it is), or a ValueError saying why it cannot be
    used here (``arguments.check_device``)."""
    check_device(requested, who)
    return distributed.device_for(requested)


def model_device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def place(model, st: CompiledState | None, device_arg, who: str) -> torch.device:
    """Move the model to the requested device (``fit(device=)``, else ``compile(device=)``); returns it."""
    req = device_arg if device_arg is not None else (st.device if st is not None else None)
    dev = resolve_device(req, who)
    if dev is None and distributed.env_world()[1] > 1 and torch.cuda.is_available() and \
            model_device(model).type == "cuda":
        dev = torch.device("cuda", distributed.env_world()[2])
    if dev is not None:
        model.to(dev)
    else:
        dev = model_device(model)
    if st is not None:
        st.run_device = dev
    return dev


def is_unbuilt(model) -> bool:
    return any(isinstance(m, Layer) and not m.built for m in model.modules()) or next(model.parameters(), None) is None


def is_stateful(model) -> bool:
    return any(getattr(m, "stateful", False) for m in model.modules() if m is not model)


def build_model(model, data, device, probe: bool = False):
    """Run one small batch (eval mode, no grad) through an unbuilt model so every parameter exists,
    or when ``probe`` asks for the outputs' shapes; returns the first output (or None)."""
    if not (probe or is_unbuilt(model)):
        return None
    batch = data.first_batch() if isinstance(data, LoaderData) else next(iter(data.batches(2, shuffle=False)))
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(to_device(batch.x, device))
    model.train(was)
    if is_stateful(model):
        model.reset_states()
    return as_list(out)


def ensure_optimizer(model, st: CompiledState) -> torch.optim.Optimizer | None:
    """The torch optimizer over the trainable parameters, built on the first batch (as Keras builds
    its optimizer on the first update); None while no weight is trainable."""
    sync_trainable(model, st)
    return st.optimizer


def sync_trainable(model, st: CompiledState) -> None:
    """Re-read the trainable parameters when some layer's ``trainable`` changed (Keras's rules, measured
    on Keras 3: freezing after compile takes effect at once; unfreezing weights the optimizer has
    updated before too; unfreezing weights it was built without needs ``compile`` again)."""
    if st.trainable_version == TRAINABLE_VERSION[0]:
        return
    params = trainable_parameters(model)
    st.trainable, st.trainable_version = params, TRAINABLE_VERSION[0]
    if not params:
        warnings.warn("fit: the model does not have any trainable weights (every layer is frozen), so training "
                      "changes no weight. Set layer.trainable = True on the layers to train.", UserWarning,
                      stacklevel=4)
    if st.optimizer is None:
        if params:
            st.optimizer = optimizers_mod.get(st.description or st.optimizer_spec, params)
            model.optimizer = st.optimizer  # as Keras's model.optimizer (a torch optimizer here)
        return
    known = {id(p) for group in st.optimizer.param_groups for p in group["params"]}
    new = [p for p in params if id(p) not in known]
    if new:
        st.trainable_version = -1
        raise ValueError(
            f"fit: {len(new)} weight(s) became trainable after the optimizer was built without them (the layer was "
            f"frozen when training started). The optimizer can only update the weights it was built with, as "
            f"in Keras: call model.compile(...) again after changing layer.trainable, then fit.")
    _align_steps(st.optimizer)


def _align_steps(optimizer) -> None:
    """Keras's Adam-family bias correction counts the optimizer's updates, not each weight's: a weight
    that sat frozen for k updates resumes at the optimizer's count (torch's own step would lag by k)."""
    n = getattr(optimizer, "iterations", None)
    if not isinstance(n, int):
        return
    for state in optimizer.state.values():
        step = state.get("step")
        if isinstance(step, torch.Tensor):
            step.fill_(n)


def class_weights_for(class_weight, outputs, who: str) -> ClassWeights | None:
    if class_weight is None:
        return None
    if len(outputs) > 1:
        raise ValueError(f"{who}: class_weight applies to a single-output model; give sample_weight per output "
                         f"instead (a list or a dict by output name).")
    return ClassWeights(class_weight, outputs[0], who)


# ---------------------------------------------------------------- non-finite losses
class NonFiniteWatch:
    """Notices the first batch whose loss is NaN or inf without a device sync per batch: each batch's
    running loss (a new small tensor per batch) is kept and all are checked once per epoch; the first
    non-finite one warns (once per ``fit``)."""

    def __init__(self):
        self.first: tuple[int, int] | None = None
        self._seen: list = []

    def watch(self, loss, batch: int) -> None:
        if self.first is None and loss is not None:
            self._seen.append((batch, loss))

    def check(self, epoch: int, epochs: int, steps) -> tuple[int, int] | None:
        seen, self._seen = self._seen, []
        if self.first is not None or not seen:
            return None
        bad = [not math.isfinite(v) if not isinstance(v, torch.Tensor) else None for _, v in seen]
        tensors = [(i, v) for i, (_, v) in enumerate(seen) if isinstance(v, torch.Tensor)]
        if tensors:
            flags = torch.stack([(~torch.isfinite(v.detach())).any() for _, v in tensors]).tolist()
            for (i, _), f in zip(tensors, flags):
                bad[i] = f
        if not any(bad):
            return None
        batch = seen[bad.index(True)][0]
        self.first = (epoch, batch)
        of = f"/{steps}" if steps else ""
        warnings.warn(
            f"fit: the loss became NaN or infinite in epoch {epoch + 1}/{epochs}, batch {batch + 1}{of}; from "
            f"there on the weights are probably not finite either. Lower the learning rate, clip the gradients "
            f"(e.g. optimizer=Adam(clipnorm=1.0)), check the data, or stop at once with "
            f"callbacks=[TerminateOnNaN()].", RuntimeWarning, stacklevel=5)
        return self.first


def loss_to_watch(st: CompiledState, logs):
    """The running loss of a step: the tracker's state for the default steps, else ``logs['loss']``."""
    if isinstance(logs, RunningLogs):
        return st.trackers.loss.state if st.trackers is not None else None
    return (logs or {}).get("loss")


# ---------------------------------------------------------------- one fit
class FitRun:
    """One ``fit`` call: placement, callbacks, and the epochs around ``model.train_step``."""

    def __init__(self, model, st: CompiledState, data, val, opts: dict):
        self.model, self.st, self.data, self.val, self.o = model, st, data, val, opts
        self.watch = NonFiniteWatch()
        self.last_logs = None  # the last train_step's logs (the progress bar shows them)

    def setup(self) -> None:
        model, st, o = self.model, self.st, self.o
        self.device = place(model, st, o["device"], "fit")
        dist_on = distributed.setup(self.device)
        self.rank, self.world = (distributed.rank(), distributed.world_size()) if dist_on else (0, 1)
        outputs = build_model(model, self.data, self.device, probe=o["class_weight"] is not None)
        self.class_weights = class_weights_for(o["class_weight"], outputs, "fit")
        ensure_optimizer(model, st)
        _check_precision(st, self.device, "fit")
        generator = torch.Generator()
        seed = o["seed"] if o["seed"] is not None else int(torch.randint(0, 2 ** 31 - 1, (1,)).item())
        st.ddp = distributed.wrap(_Forward(model), self.device) if dist_on else None
        self.shuffle_seed = distributed.broadcast_int(seed) if dist_on else seed
        generator.manual_seed(self.shuffle_seed)
        steps = self.data.num_batches(o["batch_size"], self.world)
        self.steps = o["steps_per_epoch"] if o["steps_per_epoch"] is not None else steps
        self.loop = LoopState(model, st.optimizer, generator, epochs=int(o["epochs"]), steps=self.steps,
                              initial_epoch=int(o["initial_epoch"]))
        self._callbacks()

    def _callbacks(self) -> None:
        o, model = self.o, self.model
        cbs = callback_list(o["callbacks"], "fit")
        if any(isinstance(cb, History) for cb in cbs):
            raise ValueError("fit: History is added automatically; do not pass one in callbacks.")
        self.history = History()
        extra: list = [self.history]
        if o["verbose"] and distributed.is_main() and not any(isinstance(cb, ProgressLogger) for cb in cbs):
            extra.append(ProgressLogger(o["verbose"], running_logs=lambda: floats(self.last_logs)))
        params = {"epochs": int(o["epochs"]), "steps": self.steps, "verbose": o["verbose"], "mode": "fit"}
        # History sees what callbacks add
        self.cblist = CallbackList(cbs + extra, model=model, params=params, loop=self.loop)
        self.loop.callbacks = self.cblist.callbacks
        self.batch_logs_wanted = self.cblist.wants("on_train_batch_end") or self.cblist.wants("on_train_batch_begin")

    def run(self) -> History:
        self.setup()
        model, loop = self.model, self.loop
        model.stop_training = False
        model.history = self.history
        was_training = model.training
        self.cblist.on_train_begin()
        epoch_logs: dict = {}
        for epoch in range(loop.initial_epoch, loop.epochs):
            epoch_logs = self.epoch(epoch)
            if model.stop_training:
                break
        self.history.first_nonfinite = self.watch.first
        self.cblist.on_train_end(epoch_logs)
        model.train(was_training)  # back to the mode the caller left the model in
        return self.history

    def epoch(self, epoch: int) -> dict:
        model, st, o, loop = self.model, self.st, self.o, self.loop
        loop.epoch, loop.batch = epoch, 0
        if is_stateful(model):
            model.reset_states()
        if st.trackers is not None:
            st.trackers.reset()
        model.train()
        self.cblist.on_epoch_begin(epoch)
        logs = self.batches(epoch)
        epoch_logs = step_logs(st, logs, reduce=True)
        self.watch.check(epoch, loop.epochs, self.steps)
        if self.val is not None and (epoch + 1) % o["validation_freq"] == 0:
            epoch_logs.update(run_eval(model, st, self.val, o["validation_batch_size"] or o["batch_size"],
                                       o["validation_steps"], self.device, self.rank, self.world, prefix="val_"))
        self.cblist.on_epoch_end(epoch, epoch_logs)
        return epoch_logs

    def batches(self, epoch: int):
        """One epoch's batches (an endless source continues where the last epoch stopped)."""
        o, model = self.o, self.model
        spe, step, logs = o["steps_per_epoch"], 0, None
        while True:
            produced = False
            for batch in self.data.batches(o["batch_size"], shuffle=o["shuffle"], generator=self.loop.generator,
                                           rank=self.rank, world=self.world, epoch=epoch, seed=self.shuffle_seed):
                produced = True
                logs = self.batch(batch, step)
                step += 1
                if model.stop_training or (spe is not None and step >= spe):
                    break
            if not produced:
                raise ValueError("fit: the data produced no batch in epoch "
                                 f"{epoch + 1}: an empty Dataset, or a generator that ran out (give a generator "
                                 "that loops forever together with steps_per_epoch).")
            if model.stop_training or spe is None or step >= spe:
                return logs

    def batch(self, batch, step: int):
        if isinstance(self.data, LoaderData):  # arrays were checked once up front
            check_finite(batch.x, "x", batch=step)
            check_finite(batch.y, "y", batch=step)
        self.loop.batch = step
        self.cblist.on_train_batch_begin(step)
        logs = self.last_logs = self.model.train_step(step_data(batch, self.device, self.class_weights))
        self.loop.iterations += 1
        self.watch.watch(loss_to_watch(self.st, logs), step)
        self.cblist.on_train_batch_end(step, floats(logs) if self.batch_logs_wanted else None)
        return logs


def step_logs(st: CompiledState, logs, reduce: bool, prefix: str = "") -> dict:
    """A run's logs from its last step: the trackers' values (summed over processes) for the default
    steps, else the floats a custom step returned."""
    if logs is None or isinstance(logs, RunningLogs):
        return st.trackers.logs(reduce=reduce, prefix=prefix) if st.trackers is not None else {}
    return {prefix + k: v for k, v in floats(logs).items()}


# ---------------------------------------------------------------- evaluation and prediction
def run_eval(model, st: CompiledState, data, batch_size, steps, device, rank=0, world=1, prefix="",
             cblist=None) -> dict:
    """``model.test_step`` over ``data`` (eval mode, no grad); returns the logs."""
    was = model.training
    model.eval()
    logs = None
    try:
        with fresh_trackers(st), torch.no_grad():
            for i, batch in enumerate(data.batches(batch_size, shuffle=False, rank=rank, world=world)):
                if steps is not None and i >= steps:
                    break
                if cblist is not None:
                    cblist.on_test_batch_begin(i)
                logs = model.test_step(step_data(batch, device))
                if cblist is not None and cblist.wants("on_test_batch_end"):
                    cblist.on_test_batch_end(i, floats(logs))
            out = step_logs(st, logs, reduce=True, prefix=prefix)
    finally:
        model.train(was)
    return out


def _concat(chunks: list):
    """Concatenate per-batch numpy outputs along the batch axis, padding ragged time axes with 0."""
    if len(chunks) == 1:
        return chunks[0]
    shapes = {c.shape[1:] for c in chunks}
    if len(shapes) > 1:
        full = tuple(max(s[i] for s in shapes) for i in range(len(next(iter(shapes)))))
        chunks = [np.pad(c, [(0, 0)] + [(0, f - d) for f, d in zip(full, c.shape[1:])]) for c in chunks]
    return np.concatenate(chunks, axis=0)


def run_predict(model, data, batch_size, steps, device, cblist):
    """``model.predict_step`` over ``data`` (eval mode, no grad), as numpy in the outputs' structure."""
    was = model.training
    model.eval()
    chunks, structure = None, None
    cblist.on_predict_begin()
    try:
        with torch.no_grad():
            for i, batch in enumerate(data.batches(batch_size, shuffle=False)):
                if steps is not None and i >= steps:
                    break
                cblist.on_predict_batch_begin(i)
                out = model.predict_step(step_data(batch, device))
                if structure is None:
                    structure, chunks = out, [[] for _ in as_list(out)]
                for c, o in zip(chunks, as_list(out)):
                    c.append(o.detach().cpu().numpy())
                cblist.on_predict_batch_end(i, {"outputs": out})
    finally:
        model.train(was)
    cblist.on_predict_end()
    if chunks is None:
        raise ValueError("predict: the data produced no batch.")
    arrays = [_concat(c) for c in chunks]
    if isinstance(structure, dict):
        return dict(zip(structure, arrays))
    return arrays if isinstance(structure, (list, tuple)) else arrays[0]


def ordered_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


__all__ = [
    "PRECISIONS",
    "CompiledState",
    "FitRun",
    "RunningLogs",
    "Trackers",
    "compile_state",
    "run_eval",
    "run_predict",
]
