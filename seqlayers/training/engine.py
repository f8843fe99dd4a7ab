"""Keras-style ``compile`` / ``fit`` / ``evaluate`` / ``predict`` / ``*_on_batch`` for any seqlayers model.

Each verb is a function taking the model first (the model's methods delegate here)::

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=10, validation_split=0.1)
    probs = model.predict(x_test)

What happens in a training step, for a model with outputs ``o_1..o_K``::

    outputs = model(x)                                  # model.train(): dropout on
    loss = sum_k loss_weight_k * loss_k(y_k, o_k, sample_weight_k, mask_k)
    loss.backward(); optimizer.step()

``mask_k`` is the mask attached to the output tensor (``Embedding(mask_zero=True)``, ``Masking``)
combined with the padding of targets given as ragged lists, so padded steps never count. Losses
and metrics are computed per time step for sequence outputs (see ``losses.py``). Logs: ``loss``,
each metric by name, ``<output>_loss``/``<output>_<metric>`` when there are several outputs, and
``val_`` versions with validation data. ``evaluate``/``predict`` run under ``model.eval()`` and
``torch.no_grad()``.

Under ``torchrun`` the loop runs data-parallel (see ``distributed.py``): ``batch_size`` is per
process, the global batch is ``WORLD_SIZE * batch_size``.
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import closest
from ..layers.base import Layer, get_mask, set_mask
from ..utils import flatten, map_structure
from . import distributed, losses as losses_mod, metrics as metrics_mod, optimizers as optimizers_mod
from .arguments import callback_list, check_class_weight, check_device, check_fraction, check_loss_weights
from .callbacks import CallbackList
from .data_adapter import ArrayData, Batch, LoaderData, check_finite, is_loader_source, to_structure
from .history import History
from .progress import ProgressLogger, format_logs, resolve_verbose
from .seeding import set_seed


# ---------------------------------------------------------------- compile
@dataclass
class CompiledState:
    """What ``compile`` recorded; losses and metrics are bound to the outputs on the first batch."""

    optimizer_spec: Any
    loss_spec: Any
    loss_weights: Any
    metrics_spec: Any
    device: Any = None
    optimizer: torch.optim.Optimizer | None = None
    output_names: list[str] | None = None
    losses: list | None = None            # one Loss (or None) per output
    weights: list[float] | None = None    # one loss weight per output
    metrics: list[list] | None = None     # per output, the Metric objects
    trackers: dict = field(default_factory=dict)


def compile(model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
            device=None, **kwargs):
    """Configure the model for training (Keras's ``compile``).

    Args:
        optimizer: a name (``sgd adam adamw rmsprop adagrad adadelta nadam``, with Keras's defaults),
            a ``torch.optim`` optimizer or class, or ``seqlayers.training.optimizers.Adam(...)``.
        loss: a name (``'mse'``, ``'binary_crossentropy'``, ``'sparse_categorical_crossentropy'``...),
            a ``Loss``, a function ``(y_true, y_pred) -> per-sample values``; or a list / dict (by
            output name) with one per output.
        loss_weights: list / dict of floats weighting each output's loss in the total.
        metrics: a list (applied to every output), a list of lists, or a dict by output name.
        device: ``"auto"`` (CUDA when available, else CPU), a device, or None (leave the model where it is).
    """
    if kwargs:
        ignored = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}
        bad = [k for k in kwargs if k not in ignored]
        if bad:
            raise TypeError(f"compile: unexpected keyword argument {bad[0]!r}.")
    # validate names now so typos fail at compile time, not on the first batch
    for spec in flatten(loss):
        if spec is not None:
            losses_mod.get(spec)
    for spec in flatten(metrics or []):
        metrics_mod.get(spec)
    if isinstance(optimizer, str):
        optimizers_mod.get(optimizer, [torch.zeros(1, requires_grad=True)])
    check_loss_weights(loss_weights)
    check_device(device, "compile")
    if weighted_metrics:
        metrics = (metrics or []) + list(weighted_metrics) if isinstance(metrics, (list, type(None))) else metrics
    state = CompiledState(optimizer, loss, loss_weights, metrics, device=device)
    if isinstance(optimizer, torch.optim.Optimizer):
        state.optimizer = optimizer
    model._compiled = state
    model.optimizer = state.optimizer  # None until the first fit builds it from a name
    model.stop_training = False
    return None


def _state(model, what: str) -> CompiledState:
    st = getattr(model, "_compiled", None)
    if st is None:
        raise RuntimeError(
            f"{what}: the model must be compiled first, e.g. model.compile(optimizer='adam', loss='mse')."
        )
    return st


# ---------------------------------------------------------------- outputs and targets
def _as_list(outputs, names=None):
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
    if isinstance(spec, (list, tuple)) and (len(names) > 1 or what == "loss_weights") and what in ("loss", "loss_weights"):
        if len(spec) != len(names):
            raise ValueError(f"compile: the model has {len(names)} outputs ({', '.join(names)}), but {what} "
                             f"is a list of {len(spec)}. Give one per output, or a dict by output name.")
        return list(spec)
    return [spec] * len(names)


def _bind(st: CompiledState, model, outputs, ys):
    """On the first batch: one loss, loss weight and metric list per output."""
    names = _output_names(model, outputs)
    st.output_names = names
    st.losses = [losses_mod.get(s) if s is not None else None for s in _per_output(st.loss_spec, names, "loss")]
    w = _per_output(st.loss_weights, names, "loss_weights", 1.0) if st.loss_weights is not None else [1.0] * len(names)
    st.weights = [1.0 if v is None else float(v) for v in w]
    mspec = st.metrics_spec
    if mspec is None:
        per = [[] for _ in names]
    elif isinstance(mspec, dict):
        per = _per_output(mspec, names, "metrics", [])
    elif isinstance(mspec, (list, tuple)) and len(names) > 1 and mspec and all(isinstance(m, (list, tuple)) for m in mspec):
        if len(mspec) != len(names):
            raise ValueError(f"compile: metrics is a list of {len(mspec)} lists but the model has {len(names)} outputs.")
        per = list(mspec)
    else:
        per = [mspec] * len(names)
    st.metrics = []
    for m in per:
        m = [] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m])
        st.metrics.append([metrics_mod.get(x) for x in m])
    # distinct objects per output (a Metric instance passed once is shared otherwise)
    seen = set()
    for i, ms in enumerate(st.metrics):
        for j, m in enumerate(ms):
            if id(m) in seen:
                ms[j] = copy.deepcopy(m)
                ms[j].reset_state()
            seen.add(id(ms[j]))


def _targets_list(st: CompiledState, y, n: int, what="y"):
    if y is None:
        return [None] * n
    if isinstance(y, dict):
        missing = [k for k in st.output_names if k not in y and st.losses[st.output_names.index(k)] is not None]
        if missing:
            raise ValueError(f"fit: {what} lacks targets for output {missing[0]!r}; give a dict with keys "
                             f"{st.output_names}.")
        return [y.get(k) for k in st.output_names]
    if isinstance(y, (list, tuple)) and n > 1:
        if len(y) != n:
            raise ValueError(f"fit: the model has {n} outputs ({', '.join(st.output_names)}) but {what} is a list "
                             f"of {len(y)}.")
        return list(y)
    if n > 1:
        raise ValueError(f"fit: the model has {n} outputs ({', '.join(st.output_names)}); give {what} as a list "
                         f"or a dict with one array per output.")
    return [y]


def _class_weights(class_weight: dict, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per-sample (per-step) weights from ``{class: weight}`` for sparse, one-hot or binary targets."""
    if y.ndim == out.ndim and y.shape[-1] == out.shape[-1] > 1:
        cls = y.argmax(-1)  # one-hot targets
    elif out.shape[-1] == 1:
        cls = y.reshape(out.shape[:-1]).round().long()  # binary 0/1 targets
    else:
        cls = y.reshape(out.shape[:-1]).long()  # class ids
    size = max(max(class_weight) + 1, int(cls.max()) + 1 if cls.numel() else 1)
    table = torch.ones(size, dtype=torch.float32, device=out.device)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    return table[cls.to(out.device)]


# ---------------------------------------------------------------- devices and forward
class _Forward(nn.Module):
    """``model(x)`` returning the outputs as a list plus their masks (so DDP can carry the masks)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        outs = _as_list(out)
        return out, [get_mask(o) for o in outs]


def _to_device(struct, device):
    if device is None:
        return struct

    def move(t):
        if not isinstance(t, torch.Tensor):
            if isinstance(t, np.ndarray):
                t = torch.from_numpy(np.ascontiguousarray(t))
                if t.dtype == torch.float64:
                    t = t.float()
            else:
                return t
        m = get_mask(t)
        out = t.to(device, non_blocking=True)
        if m is not None and out is not t:
            set_mask(out, m.to(device, non_blocking=True))
        return out

    return map_structure(move, struct)


def _model_device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _place(model, st: CompiledState | None, device_arg) -> torch.device:
    req = device_arg if device_arg is not None else (st.device if st is not None else None)
    dev = distributed.device_for(req)
    if dev is None and distributed.env_world()[1] > 1 and torch.cuda.is_available() and \
            _model_device(model).type == "cuda":
        dev = torch.device("cuda", distributed.env_world()[2])
    if dev is not None:
        model.to(dev)
        return dev
    return _model_device(model)


def _unbuilt(model) -> bool:
    return any(isinstance(m, Layer) and not m.built for m in model.modules()) or next(model.parameters(), None) is None


def _stateful(model) -> bool:
    return any(getattr(m, "stateful", False) for m in model.modules() if m is not model)


# ---------------------------------------------------------------- the step
class _Loop:
    """One fit/evaluate/predict run: the model, compiled state, device, and running trackers."""

    def __init__(self, model, st: CompiledState | None, device: torch.device):
        self.model, self.st, self.device = model, st, device
        self.forward = _Forward(model)
        self.train_forward = self.forward
        self.optimizer = st.optimizer if st is not None else None
        self.generator: torch.Generator | None = None
        self.initial_epoch = 0
        self.class_weight = None
        self.callbacks: list = []

    # -- trackers: name -> Metric; loss trackers are weighted by batch size as Keras does
    def reset(self):
        st = self.st
        self.loss_tracker = metrics_mod.MeanMetricWrapper(lambda a, b: a, name="loss")
        self.output_loss_trackers = [metrics_mod.MeanMetricWrapper(lambda a, b: a, name=f"{n}_loss")
                                     for n in (st.output_names or [])]
        for ms in st.metrics or []:
            for m in ms:
                m.reset_state()

    def _bind_if_needed(self, outputs, ys_raw):
        st = self.st
        if st.losses is None:
            _bind(st, self.model, outputs, ys_raw)
            self.reset()

    def step(self, batch: Batch, train: bool):
        st = self.st
        x = _to_device(batch.x, self.device)
        fwd = self.train_forward if train else self.forward
        outputs, masks = fwd(x)
        self._bind_if_needed(outputs, batch.y)
        outs = _as_list(outputs, st.output_names if isinstance(outputs, dict) else None)
        n = len(outs)
        ys = _targets_list(st, _to_device(batch.y, self.device), n)
        y_masks = _targets_list(st, _to_device(batch.y_mask, self.device), n) if batch.y_mask is not None else [None] * n
        sw = batch.sample_weight
        sws = _targets_list(st, _to_device(sw, self.device), n, "sample_weight") if isinstance(sw, (dict, list, tuple)) \
            else [_to_device(sw, self.device)] * n
        if self.class_weight is not None and n > 1:
            raise ValueError("fit: class_weight applies to a single-output model; give sample_weight per output "
                             "instead (a list or a dict by output name).")
        if self.class_weight is not None and ys[0] is not None:
            cw = _class_weights(self.class_weight, ys[0], outs[0])
            sws[0] = cw if sws[0] is None else losses_mod._expand_like(sws[0].to(cw.dtype), cw) * cw
        total = None
        per_output = []
        final_masks = []
        for i, (loss, out, y, m, ym, w) in enumerate(zip(st.losses, outs, ys, masks, y_masks, sws)):
            if ym is not None:
                ym = ym.to(torch.bool)
                m = ym if m is None else (m.to(torch.bool) & ym)
            final_masks.append(m)
            if loss is None:
                per_output.append(None)
                continue
            if y is None:
                raise ValueError(f"fit: no targets y for output {st.output_names[i]!r}; pass y=... "
                                 f"(or set its loss to None).")
            value = loss(y, out, sample_weight=w, mask=m)
            per_output.append(value)
            total = st.weights[i] * value if total is None else total + st.weights[i] * value
        if total is None:
            raise ValueError("fit: no output has a loss; compile with one, e.g. model.compile(optimizer='adam', "
                             "loss='mse').")
        if train:
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
        with torch.no_grad():
            bs = float(_batch_size(batch.x))
            one = torch.tensor([bs], dtype=torch.float64, device=total.device)
            self.loss_tracker._add(torch.stack([total.detach().to(torch.float64) * bs, one[0]]))
            if n > 1:
                for tr, v in zip(self.output_loss_trackers, per_output):
                    if v is not None:
                        tr._add(torch.stack([v.detach().to(torch.float64) * bs, one[0]]))
            for i, ms in enumerate(st.metrics):
                for met in ms:
                    if ys[i] is not None:
                        met.update_state(ys[i], outs[i].detach(), sample_weight=sws[i], mask=final_masks[i])
        return total

    def logs(self, reduce: bool = True, prefix: str = "") -> dict:
        st = self.st
        items = [("loss", self.loss_tracker)]
        if len(st.output_names or []) > 1:
            items += [(tr.name, tr) for tr, l in zip(self.output_loss_trackers, st.losses) if l is not None]
        multi = len(st.output_names or []) > 1
        for name, ms in zip(st.output_names or [], st.metrics or []):
            for m in ms:
                items.append((f"{name}_{m.name}" if multi else m.name, m))
        out = {}
        for key, m in items:
            if m.state is None and not (reduce and distributed.world_size() > 1):
                continue
            if reduce and distributed.world_size() > 1:
                saved = m.state
                local = m.state if m.state is not None else torch.zeros(2, dtype=torch.float64)
                m.state = distributed.all_reduce_sum(local)
                value = m.result()
                m.state = saved
            else:
                value = m.result()
            out[prefix + key] = float(value)
        return out


def _batch_size(x) -> int:
    leaves = [t for t in flatten(x) if isinstance(t, torch.Tensor)]
    return int(leaves[0].shape[0]) if leaves else 1


# ---------------------------------------------------------------- argument checks and data
def _check_batch_size(batch_size, who):
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}.")


def _n_inputs(model) -> int:
    ins = getattr(model, "inputs", None)
    if getattr(model, "_functional", False) and ins:
        return len(ins)
    return 1


def _n_outputs(model) -> int | None:
    outs = getattr(model, "outputs", None)
    if getattr(model, "_functional", False) and outs:
        return len(outs)
    return 1


def _make_data(model, x, y, sample_weight, batch_size, who, check=True):
    """ArrayData or LoaderData from user arguments, with the checks that teach."""
    if x is None:
        raise ValueError(f"{who}: x is None; pass the inputs (numpy arrays, tensors, or a Dataset/DataLoader).")
    if is_loader_source(x):
        if y is not None:
            raise ValueError(f"{who}: with a Dataset/DataLoader, the targets come from its items; do not pass y.")
        return LoaderData(x, batch_size)
    xs, xm = to_structure(x, _n_inputs(model), "x")
    n_out = _n_outputs(model)
    if isinstance(y, dict):
        n_out = len(y)
    ys, ym = to_structure(y, n_out, "y")
    sws = None
    if sample_weight is not None:
        per_output = isinstance(sample_weight, dict) or (
            isinstance(sample_weight, (list, tuple)) and n_out > 1 and len(sample_weight) == n_out
            and all(hasattr(w, "__len__") for w in sample_weight))
        sws, _ = to_structure(sample_weight, n_out if per_output else 1, "sample_weight")
        sws = map_structure(lambda t: t.float() if isinstance(t, torch.Tensor) else t, sws)
    data = ArrayData(xs, ys, sws, xm, ym)
    if data.n == 0:
        raise ValueError(f"{who}: x is empty (0 samples); there is nothing to {'train on' if who == 'fit' else who}.")
    if check:
        check_finite(xs, "x")
        check_finite(ys, "y")
        check_finite(sws, "sample_weight")
    return data


def _build_model(loop: _Loop, data):
    """Run one batch through an unbuilt model (eval mode, no grad) so every parameter exists."""
    model = loop.model
    if not _unbuilt(model):
        return
    batch = next(iter(data.batches(2, shuffle=False)))
    was = model.training
    model.eval()
    with torch.no_grad():
        model(_to_device(batch.x, loop.device))
    model.train(was)
    if _stateful(model):
        model.reset_states()


def _ensure_optimizer(loop: _Loop):
    st = loop.st
    if st.optimizer is None:
        params = [p for p in loop.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("fit: the model has no trainable parameters (all layers frozen?).")
        st.optimizer = optimizers_mod.get(st.optimizer_spec, params)
    loop.optimizer = st.optimizer
    loop.model.optimizer = st.optimizer  # as Keras's model.optimizer (a torch optimizer here)


# ---------------------------------------------------------------- fit
def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
        seed=None, device=None, **kwargs) -> History:
    """Train the model for ``epochs`` epochs (Keras's ``fit``); returns a ``History``.

    Args mirror Keras: ``x``/``y`` arrays, tensors, lists/dicts per input/output, ragged Python lists
    (padded and masked for you), or a torch ``Dataset``/``DataLoader`` yielding ``(x, y[, sw])``;
    ``batch_size`` (default 32; per process under torchrun); ``validation_split`` (the last fraction
    of the samples) or ``validation_data=(x_val, y_val[, sw_val])``; ``sample_weight`` per sample
    ``(B,)`` or per time step ``(B, T)``; ``class_weight={class: weight}``; ``shuffle`` (each epoch;
    refused for stateful RNNs); ``verbose`` 0/1/2/'auto'. Extra: ``seed`` seeds Python, numpy, torch
    and the shuffling generator, so two CPU runs give bit-identical weights; ``device="auto"``.
    """
    if "nb_epoch" in kwargs:  # Keras 1 spelling, common in older snippets
        epochs = kwargs.pop("nb_epoch")
    if kwargs:
        bad = next(iter(kwargs))
        near = closest(bad, [p for p in inspect.signature(fit).parameters if p not in ("model", "kwargs")])
        raise TypeError(f"fit: unexpected keyword argument {bad!r}." + (f" Did you mean {near[0]!r}?" if near else ""))
    st = _state(model, "fit")
    _check_batch_size(batch_size, "fit")
    _check_batch_size(validation_batch_size, "fit (validation_batch_size)")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}.")
    check_fraction(validation_split, "validation_split")
    check_class_weight(class_weight)
    check_device(device, "fit")
    if not (validation_split == 0 or 0 < validation_split < 1):
        raise ValueError(f"fit: validation_split must be a fraction strictly between 0 and 1 (e.g. 0.2 keeps the "
                         f"last 20% of the samples for validation), got {validation_split!r}.")
    if steps_per_epoch is not None and steps_per_epoch <= 0:
        raise ValueError(f"fit: steps_per_epoch must be a positive integer, got {steps_per_epoch!r}.")
    verbose = resolve_verbose(verbose)
    if _stateful(model) and shuffle:
        raise ValueError(
            "fit: the model has a stateful recurrent layer, which carries its state from each batch to the "
            "next sample-by-sample, so the samples must stay in order: pass shuffle=False (and order the data "
            "so that sample i of each batch continues sample i of the previous batch)."
        )
    if seed is not None:
        set_seed(seed)
    batch_size = batch_size or 32

    data = _make_data(model, x, y, sample_weight, batch_size, "fit")
    val = None
    if validation_data is not None:
        if is_loader_source(validation_data):
            val = LoaderData(validation_data, validation_batch_size or batch_size)
        else:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val), "
                                 "or a Dataset/DataLoader.")
            val = _make_data(model, validation_data[0], validation_data[1],
                             validation_data[2] if len(validation_data) == 3 else None, batch_size, "fit")
    elif validation_split:
        if not isinstance(data, ArrayData):
            raise ValueError("fit: validation_split needs arrays; with a Dataset/DataLoader pass validation_data.")
        data, val = data.split(validation_split)

    device = _place(model, st, device)
    dist_on = distributed.setup(device)
    rank, world = (distributed.rank(), distributed.world_size()) if dist_on else (0, 1)

    loop = _Loop(model, st, device)
    loop.class_weight = class_weight
    _build_model(loop, data)
    _ensure_optimizer(loop)
    loop.generator = torch.Generator()
    shuffle_seed = seed if seed is not None else int(torch.randint(0, 2 ** 31 - 1, (1,)).item())
    if dist_on:
        shuffle_seed = distributed.broadcast_int(shuffle_seed)
        loop.train_forward = distributed.wrap(loop.forward, device)
    loop.generator.manual_seed(shuffle_seed)
    loop.initial_epoch = int(initial_epoch)

    steps = data.num_batches(batch_size, world)
    if steps_per_epoch is not None:
        steps = steps_per_epoch
    history = History()
    cbs = callback_list(callbacks, "fit")
    for cb in cbs:
        if isinstance(cb, History):
            raise ValueError("fit: History is added automatically; do not pass one in callbacks.")
    progress = None
    if verbose and distributed.is_main():
        progress = ProgressLogger(verbose, running_logs=lambda: loop.logs(reduce=False))
    all_cbs = cbs + [history] + ([progress] if progress else [])  # History sees what callbacks add
    params = {"epochs": int(epochs), "steps": steps, "verbose": verbose}
    cblist = CallbackList(all_cbs, model=model, params=params, trainer=loop)
    batch_logs_wanted = cblist.wants("on_train_batch_end") or cblist.wants("on_train_batch_begin")
    model.stop_training = False
    model.history = history
    was_training = model.training

    loop.callbacks = all_cbs
    cblist.on_train_begin()
    for cb in all_cbs:  # BackupAndRestore puts back the callbacks' states once they are initialised
        if hasattr(cb, "after_train_begin"):
            cb.after_train_begin()
    epoch_logs: dict = {}
    for epoch in range(loop.initial_epoch, int(epochs)):
        if _stateful(model):
            model.reset_states()
        loop.reset()
        model.train()
        cblist.on_epoch_begin(epoch)
        step = 0
        while True:
            it = data.batches(batch_size, shuffle=shuffle, generator=loop.generator, rank=rank, world=world,
                              epoch=epoch, seed=shuffle_seed)
            produced = False
            for batch in it:
                produced = True
                if isinstance(data, LoaderData):  # arrays were checked once up front
                    check_finite(batch.x, "x", batch=step)
                    check_finite(batch.y, "y", batch=step)
                cblist.on_train_batch_begin(step)
                loop.step(batch, train=True)
                cblist.on_train_batch_end(step, loop.logs(reduce=False) if batch_logs_wanted else None)
                step += 1
                if model.stop_training or (steps_per_epoch is not None and step >= steps_per_epoch):
                    break
            if not produced:
                raise ValueError("fit: the data produced no batch in epoch "
                                 f"{epoch + 1}: an empty Dataset, or a generator that ran out (give a generator "
                                 "that loops forever together with steps_per_epoch).")
            if model.stop_training or steps_per_epoch is None or step >= steps_per_epoch:
                break
        epoch_logs = loop.logs(reduce=True)
        if val is not None and (epoch + 1) % validation_freq == 0:
            epoch_logs.update(_run_eval(loop, val, validation_batch_size or batch_size, validation_steps,
                                        rank, world, prefix="val_"))
        cblist.on_epoch_end(epoch, epoch_logs)
        for cb in all_cbs:  # BackupAndRestore saves after every callback has seen the epoch
            if hasattr(cb, "after_epoch_end"):
                cb.after_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cblist.on_train_end(epoch_logs)
    model.train(was_training)  # back to the mode the caller left the model in
    return history


def _run_eval(loop: _Loop, data, batch_size, steps, rank=0, world=1, prefix="", cblist=None) -> dict:
    model = loop.model
    was = model.training
    model.eval()
    # evaluation uses its own trackers so training's running values are not disturbed
    saved = _swap_trackers(loop)
    try:
        loop.reset()
        with torch.no_grad():
            for i, batch in enumerate(data.batches(batch_size, shuffle=False, rank=rank, world=world)):
                if steps is not None and i >= steps:
                    break
                if cblist is not None:
                    cblist.on_test_batch_begin(i)
                loop.step(batch, train=False)
                if cblist is not None and cblist.wants("on_test_batch_end"):
                    cblist.on_test_batch_end(i, loop.logs(reduce=False))
        logs = loop.logs(reduce=True, prefix=prefix)
    finally:
        _restore_trackers(loop, saved)
        model.train(was)
    return logs


def _swap_trackers(loop: _Loop):
    st = loop.st
    if st.metrics is None:
        return None
    saved = (getattr(loop, "loss_tracker", None), getattr(loop, "output_loss_trackers", None),
             [[m.state for m in ms] for ms in st.metrics])
    return saved


def _restore_trackers(loop: _Loop, saved):
    if saved is None:
        return
    loop.loss_tracker, loop.output_loss_trackers, states = saved
    for ms, ss in zip(loop.st.metrics, states):
        for m, s in zip(ms, ss):
            m.state = s


# ---------------------------------------------------------------- evaluate / predict
def _ordered_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             callbacks=None, return_dict=False, device=None):
    """Loss and metrics on data (eval mode, no grad): a float, a list ``[loss, metrics...]``, or a dict."""
    st = _state(model, "evaluate")
    _check_batch_size(batch_size, "evaluate")
    check_device(device, "evaluate")
    verbose = resolve_verbose(verbose)
    batch_size = batch_size or 32
    data = _make_data(model, x, y, sample_weight, batch_size, "evaluate", check=False)
    device = _place(model, st, device)
    dist_on = distributed.setup(device) if distributed.env_world()[1] > 1 else False
    rank, world = (distributed.rank(), distributed.world_size()) if dist_on else (0, 1)
    loop = _Loop(model, st, device)
    _build_model(loop, data)
    cblist = CallbackList(callback_list(callbacks, "evaluate"), model=model, params={"verbose": verbose, "steps": steps},
                          trainer=loop)
    cblist.on_test_begin()
    logs = _run_eval(loop, data, batch_size, steps, rank, world, cblist=cblist)
    cblist.on_test_end(logs)
    if verbose and distributed.is_main():
        print(format_logs(logs), flush=True)
    return _ordered_result(logs, return_dict)


def _concat(chunks: list):
    """Concatenate per-batch numpy outputs along the batch axis, padding ragged time axes with 0."""
    if len(chunks) == 1:
        return chunks[0]
    shapes = {c.shape[1:] for c in chunks}
    if len(shapes) > 1:
        full = tuple(max(s[i] for s in shapes) for i in range(len(next(iter(shapes)))))
        chunks = [np.pad(c, [(0, 0)] + [(0, f - d) for f, d in zip(full, c.shape[1:])]) for c in chunks]
    return np.concatenate(chunks, axis=0)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None, device=None):
    """Outputs for ``x`` in batches (eval mode, no grad), as numpy: an array, or a list/dict per output."""
    _check_batch_size(batch_size, "predict")
    check_device(device, "predict")
    verbose = resolve_verbose(verbose)
    batch_size = batch_size or 32
    st = getattr(model, "_compiled", None)
    data = _make_data(model, x, None, None, batch_size, "predict", check=False)
    device = _place(model, st, device)
    cblist = CallbackList(callback_list(callbacks, "predict"), model=model, params={"verbose": verbose, "steps": steps})
    was = model.training
    model.eval()
    chunks, structure = None, None
    bar = None
    if verbose == 1 and distributed.is_main():
        import sys

        if sys.stdout.isatty():
            from tqdm.auto import tqdm

            bar = tqdm(total=data.num_batches(batch_size), desc="predict", unit="batch")
    cblist.on_predict_begin()
    try:
        with torch.no_grad():
            for i, batch in enumerate(data.batches(batch_size, shuffle=False)):
                if steps is not None and i >= steps:
                    break
                cblist.on_predict_batch_begin(i)
                out = model(_to_device(batch.x, device))
                if structure is None:
                    structure = out
                    chunks = [[] for _ in _as_list(out)]
                for c, o in zip(chunks, _as_list(out)):
                    c.append(o.detach().cpu().numpy())
                cblist.on_predict_batch_end(i, {"outputs": out})
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        model.train(was)
    cblist.on_predict_end()
    if chunks is None:
        raise ValueError("predict: the data produced no batch.")
    arrays = [_concat(c) for c in chunks]
    if isinstance(structure, dict):
        return dict(zip(structure, arrays))
    if isinstance(structure, (list, tuple)):
        return arrays
    return arrays[0]


# ---------------------------------------------------------------- single batches
def _single_batch(model, x, y, sample_weight, who):
    xs, xm = to_structure(x, _n_inputs(model), "x")
    ys, ym = to_structure(y, len(y) if isinstance(y, dict) else _n_outputs(model), "y")
    sws = None
    if sample_weight is not None:
        sws, _ = to_structure(sample_weight, 1, "sample_weight")
        sws = map_structure(lambda t: t.float() if isinstance(t, torch.Tensor) else t, sws)
    data = ArrayData(xs, ys, sws, xm, ym)
    return data, data.take(slice(0, data.n))


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One optimizer step on one batch; returns that batch's loss (and metrics)."""
    st = _state(model, "train_on_batch")
    data, batch = _single_batch(model, x, y, sample_weight, "train_on_batch")
    check_finite(batch.x, "x")
    check_finite(batch.y, "y")
    device = _place(model, st, None)
    loop = _Loop(model, st, device)
    loop.class_weight = class_weight
    _build_model(loop, data)
    _ensure_optimizer(loop)
    if st.losses is not None:
        loop.reset()
    model.train()
    loop.step(batch, train=True)
    return _ordered_result(loop.logs(reduce=False), return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    """Loss (and metrics) on one batch, in eval mode without gradients."""
    st = _state(model, "test_on_batch")
    data, batch = _single_batch(model, x, y, sample_weight, "test_on_batch")
    device = _place(model, st, None)
    loop = _Loop(model, st, device)
    _build_model(loop, data)
    logs = _run_eval(loop, data, data.n, None)
    return _ordered_result(logs, return_dict)


def predict_on_batch(model, x):
    """Outputs for one batch as numpy (eval mode, no grad)."""
    xs, _ = to_structure(x, _n_inputs(model), "x")
    return predict(model, xs, batch_size=max(_batch_size(xs), 1), verbose=0)


__all__ = ["compile", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch",
           "CompiledState"]
