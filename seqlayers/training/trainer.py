"""``Trainer``: Keras's training API, mixed into every seqlayers model (``models.base.BaseModel``).

The verbs have Keras 3's signatures::

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=10, validation_split=0.1)
    probs = model.predict(x_test)

and each batch goes through a method you can override, with Keras's contract:

* ``train_step(data)``: ``data`` is ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` on the
  training device (``unpack_x_y_sample_weight`` takes it apart; ragged targets carry their padding
  mask, ``class_weight`` is already in ``sample_weight``). It runs the forward pass, the loss, the
  backward pass and the optimizer step, and returns a dict of logs (the default returns
  ``self.compute_metrics(...)``: the running loss and metrics). ``fit`` calls it once per batch,
  with every callback around it; the epoch's logs are the last batch's.
* ``test_step(data)``: the same without gradients or updates (``evaluate`` and validation).
* ``predict_step(data)``: returns the outputs for ``x`` (``predict``).

Pieces for your own steps: ``compute_loss(x, y, y_pred, sample_weight)`` (the compiled losses,
weighted, masked; tracks per-output losses), ``compute_metrics(x, y, y_pred, sample_weight)``
(updates the compiled metrics, returns the logs), ``get_metrics_result()``, and
``self.optimizer`` (a torch optimizer; with ``Adam(clipnorm=...)`` and friends its ``step()``
clips and accumulates as Keras). A GAN, for instance, overrides ``compile`` to take two
optimizers and ``train_step`` to step each of them.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..constraints import apply_constraints
from ..errors import closest
from . import distributed
from . import metrics as metrics_mod
from .arguments import callback_list, check_class_weight, check_fraction
from .callbacks import CallbackList
from .data_adapter import (
    check_batch_size,
    check_finite,
    make_data,
    n_inputs,
    single_batch,
    step_data,
    to_structure,
    unpack_x_y_sample_weight,
    validation_source,
)
from .engine import (
    FitRun,
    RunningLogs,
    autocast,
    backward_and_step,
    batch_size_of,
    build_model,
    class_weights_for,
    compile_state,
    compiled,
    ensure_optimizer,
    floats,
    ordered_result,
    output_terms,
    place,
    resolve_device,
    run_eval,
    run_predict,
    sync_trainable,
    train_forward,
)
from .history import History
from .progress import ProgressLogger, resolve_verbose
from .seeding import set_seed


class Trainer:
    """``compile`` / ``fit`` / ``evaluate`` / ``predict`` / ``*_on_batch`` and the overridable steps."""

    stop_training = False  # set True (e.g. from a callback) to end fit after the current batch

    # ------------------------------------------------------------ configure
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, *,
                precision=None, device=None, **unknown):
        """Configure the model for training (Keras's ``compile``).

        Args:
            optimizer: a name (``sgd adam adamw rmsprop adagrad adadelta nadam``, with Keras's defaults),
                ``seqlayers.training.optimizers.Adam(learning_rate=..., clipnorm=...)`` and friends, a
                ``torch.optim`` optimizer or class.
            loss: a name (``'mse'``, ``'binary_crossentropy'``, ``'sparse_categorical_crossentropy'``...),
                a ``Loss``, a function ``(y_true, y_pred) -> per-sample values``; or a list / dict (by
                output name) with one per output.
            loss_weights: list / dict of floats weighting each output's loss in the total.
            metrics, weighted_metrics: a list (applied to every output), a list of lists, or a dict by
                output name.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for Keras
                compatibility; the loop always runs eagerly, one batch per step.
            precision: ``None``/``"32"`` (float32), ``"bf16-mixed"`` (alias ``"mixed_bfloat16"``: the
                forward pass under bfloat16 autocast, CPU and GPU; losses in float32), or
                ``"16-mixed"`` (alias ``"mixed_float16"``: float16 autocast with dynamic loss scaling,
                CUDA only). See docs/training.md.
            device: ``"auto"`` (CUDA when available, else CPU), a device, or None (leave the model where it is).
            unknown: refused with a TypeError suggesting the nearest argument.
        """
        _refuse_unknown("compile", unknown, Trainer.compile)
        self._compiled = compile_state(optimizer, loss, loss_weights, metrics, weighted_metrics, device, precision)
        # until the first batch builds the torch optimizer over the weights, model.optimizer is its Keras-style
        # description (learning_rate readable and settable, iterations 0), as Keras's exists after compile
        self.optimizer = self._compiled.optimizer or self._compiled.description
        self.stop_training = False

    # ------------------------------------------------------------ training state (Keras's attributes)
    @property
    def loss(self):
        """The ``loss`` given to ``compile`` (None before)."""
        st = getattr(self, "_compiled", None)
        return st.loss_spec if st is not None else None

    @property
    def metrics(self) -> list:
        """The loss tracker and the compiled metric objects (once the first batch has bound them)."""
        st = getattr(self, "_compiled", None)
        if st is None or st.trackers is None:
            return []
        return [m for _, m in st.trackers.items()]

    @property
    def metrics_names(self) -> list[str]:
        """The names of the values ``evaluate`` returns, in order (Keras 2's meaning, and the keys of Keras 3's
        ``evaluate(return_dict=True)``; Keras 3 itself lists ``['loss', 'compile_metrics']``)."""
        st = getattr(self, "_compiled", None)
        if st is None:
            return []
        if st.trackers is not None:
            return [k for k, _ in st.trackers.items()]
        names = ["loss"]
        if isinstance(st.metrics_spec, (list, tuple)) \
                and not any(isinstance(m, (list, tuple)) for m in st.metrics_spec):
            names += [metrics_mod.get(m).name for m in st.metrics_spec]
        return names

    # ------------------------------------------------------------ the steps (override these)
    def train_step(self, data):
        """One training batch: forward, loss, backward, optimizer step; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        st = compiled(self, "train_step")
        with autocast(st):
            y_pred = train_forward(self, st, x)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        st.trackers.add(st.trackers.loss, loss, batch_size_of(x))
        sync_trainable(self, st)  # layer.trainable may have changed since the last step
        backward_and_step(st, self.optimizer, loss)
        apply_constraints(self)  # weight constraints after each optimizer step, as Keras
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """One evaluation batch (the loop runs it in eval mode under ``torch.no_grad``); returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        st = compiled(self, "test_step")
        with autocast(st):
            y_pred = self(x)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        st.trackers.add(st.trackers.loss, loss, batch_size_of(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The outputs for one batch of inputs."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss: the compiled losses per output, weighted by ``loss_weights``, masked and
        sample-weighted (see ``losses.py``). Tracks each output's loss when there are several."""
        st = compiled(self, "compute_loss")
        terms = output_terms(st, self, y, y_pred, sample_weight)
        total, bs = None, batch_size_of(x)
        for t in terms:
            loss = st.losses[t.index]
            if loss is None:
                continue
            if t.y is None:
                raise ValueError(f"fit: no targets y for output {st.output_names[t.index]!r}; pass y=... "
                                 f"(or set its loss to None).")
            value = loss(t.y, t.y_pred, sample_weight=t.sample_weight, mask=t.mask)
            if len(terms) > 1:
                st.trackers.add(st.trackers.outputs[t.index], value, bs)
            total = st.weights[t.index] * value if total is None else total + st.weights[t.index] * value
        if total is None:
            raise ValueError("fit: no output has a loss; compile with one, e.g. model.compile(optimizer='adam', "
                             "loss='mse').")
        extra = self.losses  # regularizer penalties and add_loss terms, added as Keras adds them
        return total + sum(extra) if extra else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with this batch; returns ``get_metrics_result()``."""
        st = compiled(self, "compute_metrics")
        for t in output_terms(st, self, y, y_pred, sample_weight):
            if t.y is None:
                continue
            for met in st.metrics[t.index]:
                weights = t.sample_weight if getattr(met, "weighted", False) else None  # Keras: weighted_metrics only
                met.update_state(t.y, t.y_pred.detach(), sample_weight=weights, mask=t.mask)
        st.extra.pop("terms", None)  # this step's assembly is done with
        return self.get_metrics_result()

    def get_metrics_result(self):
        """The running loss and metric values by name (read as floats when looked at)."""
        st = compiled(self, "get_metrics_result")
        return RunningLogs(st.trackers) if st.trackers is not None else {}

    # ------------------------------------------------------------ the verbs
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1, *,
            seed=None, device=None, **legacy) -> History:
        """Train the model for ``epochs`` epochs (Keras's ``fit``); returns a ``History``.

        Args mirror Keras: ``x``/``y`` arrays, tensors, lists/dicts per input/output, ragged Python lists
        (padded and masked for you), or a torch ``Dataset``/``DataLoader`` yielding ``(x, y[, sw])``;
        ``batch_size`` (default 32; per process under torchrun); ``validation_split`` (the last fraction
        of the samples) or ``validation_data=(x_val, y_val[, sw_val])``; ``sample_weight`` per sample
        ``(B,)`` or per time step ``(B, T)``; ``class_weight={class: weight}``; ``shuffle`` (each epoch;
        refused for stateful RNNs); ``verbose`` 0/1/2/'auto'. Extra: ``seed`` seeds Python, numpy, torch
        and the shuffling generator, so two CPU runs give bit-identical weights; ``device`` ("auto",
        "cpu", "cuda", ...: a ValueError when it is not available). ``legacy`` takes Keras 1's
        ``nb_epoch`` only.
        """
        epochs = _legacy_epochs(legacy, epochs)
        st = compiled(self, "fit")
        _check_fit_arguments(self, batch_size, validation_batch_size, epochs, validation_split, steps_per_epoch,
                             shuffle)
        check_class_weight(class_weight)
        resolve_device(device, "fit")
        verbose = resolve_verbose(verbose)
        if seed is not None:
            set_seed(seed)
        batch_size = batch_size or 32
        data = make_data(self, x, y, sample_weight, batch_size, "fit")
        data, val = validation_source(self, validation_data, validation_split, data, batch_size,
                                      validation_batch_size)
        opts = dict(batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks, shuffle=shuffle,
                    class_weight=class_weight, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                    validation_steps=validation_steps, validation_batch_size=validation_batch_size,
                    validation_freq=validation_freq, seed=seed, device=device)
        return FitRun(self, st, data, val, opts).run()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, *, device=None):
        """Loss and metrics on data (eval mode, no grad): a float, a list ``[loss, metrics...]``, or a dict."""
        st = compiled(self, "evaluate")
        check_batch_size(batch_size, "evaluate")
        resolve_device(device, "evaluate")
        verbose = resolve_verbose(verbose)
        batch_size = batch_size or 32
        data = make_data(self, x, y, sample_weight, batch_size, "evaluate", check=False)
        device = place(self, st, device, "evaluate")
        dist_on = distributed.setup(device) if distributed.env_world()[1] > 1 else False
        rank, world = (distributed.rank(), distributed.world_size()) if dist_on else (0, 1)
        build_model(self, data, device)
        cblist = _with_progress(callbacks, self, verbose, {"verbose": verbose, "steps": steps, "mode": "evaluate"},
                                "evaluate")
        cblist.on_test_begin()
        logs = run_eval(self, st, data, batch_size, steps, device, rank, world, cblist=cblist)
        cblist.on_test_end(logs)
        return ordered_result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, *, device=None):
        """Outputs for ``x`` in batches (eval mode, no grad), as numpy: an array, or a list/dict per output."""
        check_batch_size(batch_size, "predict")
        resolve_device(device, "predict")
        verbose = resolve_verbose(verbose)
        batch_size = batch_size or 32
        st = getattr(self, "_compiled", None)
        data = make_data(self, x, None, None, batch_size, "predict", check=False)
        device = place(self, st, device, "predict")
        total = steps if steps is not None else data.num_batches(batch_size)
        cblist = _with_progress(callbacks, self, verbose, {"verbose": verbose, "steps": total, "mode": "predict"},
                                "predict")
        return run_predict(self, data, batch_size, steps, device, cblist)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns that batch's loss (and metrics)."""
        st = compiled(self, "train_on_batch")
        data, batch = single_batch(self, x, y, sample_weight)
        check_finite(batch.x, "x")
        check_finite(batch.y, "y")
        device = place(self, st, None, "train_on_batch")
        outputs = build_model(self, data, device, probe=class_weight is not None)
        weights = class_weights_for(class_weight, outputs, "train_on_batch")
        ensure_optimizer(self, st)
        if st.trackers is not None:
            st.trackers.reset()
        self.train()
        logs = self.train_step(step_data(batch, device, weights))
        return ordered_result(floats(logs), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, in eval mode without gradients."""
        st = compiled(self, "test_on_batch")
        data, _ = single_batch(self, x, y, sample_weight)
        device = place(self, st, None, "test_on_batch")
        build_model(self, data, device)
        return ordered_result(run_eval(self, st, data, data.n, None, device), return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch as numpy (eval mode, no grad)."""
        xs, _ = to_structure(x, n_inputs(self), "x")
        return self.predict(xs, batch_size=max(batch_size_of(xs), 1), verbose=0)


# ---------------------------------------------------------------- argument checks
def _refuse_unknown(who: str, unknown: dict, method) -> None:
    """A TypeError for the first unknown keyword, suggesting the nearest argument of ``method``."""
    if not unknown:
        return
    bad = next(iter(unknown))
    params = [n for n, p in inspect.signature(method).parameters.items() if n != "self" and p.kind != p.VAR_KEYWORD]
    near = closest(bad, params)
    raise TypeError(f"{who}: unexpected keyword argument {bad!r}." + (f" Did you mean {near[0]!r}?" if near else ""))


def _legacy_epochs(legacy: dict, epochs):
    """Keras 1's ``nb_epoch``; any other unknown keyword is a TypeError suggesting the nearest argument."""
    if "nb_epoch" in legacy:
        epochs = legacy.pop("nb_epoch")
    _refuse_unknown("fit", legacy, Trainer.fit)
    return epochs


def _check_fit_arguments(model, batch_size, validation_batch_size, epochs, validation_split, steps_per_epoch,
                         shuffle) -> None:
    check_batch_size(batch_size, "fit")
    check_batch_size(validation_batch_size, "fit (validation_batch_size)")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}.")
    check_fraction(validation_split, "validation_split")
    if not (validation_split == 0 or 0 < validation_split < 1):
        raise ValueError(f"fit: validation_split must be a fraction strictly between 0 and 1 (e.g. 0.2 keeps the "
                         f"last 20% of the samples for validation), got {validation_split!r}.")
    if steps_per_epoch is not None and steps_per_epoch <= 0:
        raise ValueError(f"fit: steps_per_epoch must be a positive integer, got {steps_per_epoch!r}.")
    stateful = any(getattr(m, "stateful", False) for m in model.modules() if m is not model)
    if stateful and shuffle:
        raise ValueError(
            "fit: the model has a stateful recurrent layer, which carries its state from each batch to the "
            "next sample-by-sample, so the samples must stay in order: pass shuffle=False (and order the data "
            "so that sample i of each batch continues sample i of the previous batch)."
        )


def _with_progress(callbacks, model, verbose, params, who) -> CallbackList:
    """The callbacks of ``evaluate``/``predict``, with the progress channel when ``verbose`` asks for it."""
    cbs = callback_list(callbacks, who)
    if verbose and distributed.is_main() and not any(isinstance(cb, ProgressLogger) for cb in cbs):
        cbs = cbs + [ProgressLogger(verbose)]
    return CallbackList(cbs, model=model, params=params, who=who)


__all__ = ["Trainer"]
