"""Recurrent layers with Keras 3 semantics: the generic ``RNN(cell)``, SimpleRNN, GRU, LSTM.

``RNN(cell)`` runs a cell (``cells.py``) over the time axis of a ``(B, T, F)`` input with Keras's
semantics:

* ``return_sequences``: every step's output ``(B, T, H)``, else the last one ``(B, H)``;
* ``return_state``: ``[output, *final_states]`` (``[output, h, c]`` for an LSTM);
* masks: a masked step keeps the states and repeats the previous output (zeros before the first
  valid step), or outputs zeros with ``zero_output_for_mask``; the output mask is the input mask
  when ``return_sequences``, else None;
* ``go_backwards``: the input is reversed and the sequence of outputs is returned reversed;
* ``stateful``: the final states of a batch are the initial states of the next (detached, batch
  size fixed); ``reset_states()`` zeroes them;
* ``dropout`` / ``recurrent_dropout``: masks drawn once per batch and reused at every step.

The computing is done by ``rnn_kernel.run`` (tensors in, tensors out): torch's fused kernels whenever
they compute the same thing (no mask or a right-padded one), an exact step loop otherwise; tests pin
fused == loop to 1e-5, gradients included. ``layer.last_path`` says which path ran (the vocabulary
is in ``rnn_kernel.py``).

``SimpleRNN``, ``GRU`` and ``LSTM`` declare none of their cell's arguments: each takes its cell's
signature (``takes_args_of``), hands those arguments to the cell and reads them back from it as
attributes (``LSTM(8, dropout=0.2).dropout``), as Keras does.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from ..errors import fmt_shape, known_axis, layer_label
from ..utils import to_tensor
from . import rnn_kernel
from .base import InputSpec, Layer
from .cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    _GatedCell,
    arg_names,
    takes_args_of,
)
from .rnn_masks import check_mask
from .stacked_cells import StackedRNNCells

_RNN_INPUT = dict(
    ndim=3, dtype="float", expected="input of shape (batch, time, features)",
    hint="A 2-D input usually means the previous recurrent layer needs return_sequences=True "
         "(or add a time axis: x[:, :, None]).",
)


def check_steps(layer, x) -> None:
    """A teaching error for an input without time steps."""
    if x.shape[1] == 0:
        raise ValueError(f"{layer_label(layer)}: expected at least one time step, got input of shape "
                         f"{fmt_shape(x.shape)}. Drop empty sequences (or pad them to length 1 and mask "
                         f"the padding) before the recurrent layer.")


def stateful_batch_error(layer, shape) -> ValueError:
    return ValueError(
        f"{layer_label(layer)}: stateful=True needs a fixed batch size (the kept states have one), but "
        f"the declared input shape {fmt_shape(shape)} leaves it open. Give batch_input_shape=(32, T, F) or "
        f"batch_size=32 (or Input(batch_shape=...)), or declare no input shape and let the first batch "
        f"fix it; every batch must then have that size."
    )


class StatefulBatch:
    """Mixin of RNN and Bidirectional: where a stateful layer's fixed batch size comes from.

    A declared input shape must name the batch size; otherwise the first eager call fixes it
    (as Keras 3 does), by building from the real batch rather than from ``(None, T, F)``.
    """

    def _after_init(self):
        shape = self.declared_input_shape
        if self.stateful and shape is not None and shape[0] is None:
            raise stateful_batch_error(self, shape)
        super()._after_init()

    def forward(self, inputs, *args, **kwargs):
        if self.stateful and not self.built and isinstance(inputs, torch.Tensor) and inputs.dim() == 3:
            self.build_from_shape(tuple(inputs.shape))  # an eager first call fixes the batch size
            self._move_to(inputs)
        return super().forward(inputs, *args, **kwargs)


class RNN(StatefulBatch, Layer):
    """Run a cell over the time axis, with Keras's semantics (see the module docstring).

    Args:
        cell: a built-in cell (``LSTMCell``...) or any module with ``state_size`` (int or list) and
            ``call(x_t, states, training) -> (output, new_states)`` (``training`` optional); a list
            of cells is a ``StackedRNNCells`` (states and ``return_state`` one entry per cell, as
            Keras; a functional model's symbolic outputs list them flat).
        return_sequences: return every step's output ``(B, T, H)``, not only the last ``(B, H)``.
        return_state: also return the final states: ``[output, *states]``.
        go_backwards: process the input in reverse and return the reversed sequence (as Keras).
        stateful: the final states of a batch are the initial states of the next (fixed batch size).
        unroll: accepted for Keras compatibility; it changes nothing here.
        zero_output_for_mask: masked steps output zeros (instead of repeating the previous output).
        input_length: Keras 2's shorthand: with ``input_dim``, ``input_shape=(input_length, input_dim)``.

    Call arguments: ``mask`` (B, T) bool, ``initial_state`` (a list of (B, size) tensors),
    ``training``, ``parallel_steps`` (not Keras's; below). ``layer.last_path`` says which path ran
    (``"fused"``, ``"fused_padded"``, ``"native"``, ``"scripted"``, ``"loop"``...; see ``rnn_kernel.py``;
    ``"parallel_steps"``: below).

    ``parallel_steps=True`` (a built-in cell, with ``initial_state``): every step starts from
    ``initial_state``, not from the step before, ``output[:, t] = cell(inputs[:, t], initial_state)``,
    all ``T`` steps in one batched call; each state's recurrent product ``h @ U`` is computed once, not
    once per step. This is SegRNN's parallel decoding (``topologies.segment_rnn``): the same as
    ``RepeatVector`` on the states and a one-step call on ``(B*T, 1, F)``, ``T`` times cheaper in the
    recurrent product. The output is the sequence ``(B, T, H)`` whatever ``return_sequences``; with
    ``return_state``, each step's states ``(B, T, H)``.

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``;
        with ``return_state``: ``[output, *states]``, each state ``(B, H)`` (LSTM: ``h``, ``c``).
    """

    supports_masking = True
    _input_dim_rank = 3

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        shape = self.declared_input_shape
        if input_length is not None and shape is not None and len(shape) == 3 and shape[1] is None:
            self.declared_input_shape = (shape[0], int(input_length), shape[2])  # Keras 2's input_length
        if isinstance(cell, (list, tuple)):  # Keras's RNN([cell, cell])
            cell = StackedRNNCells(cell)
            if "cell" in getattr(self, "_config", {}):
                self._config["cell"] = cell
        self._stacked = isinstance(cell, StackedRNNCells)
        size = cell.flat_state_sizes if self._stacked else getattr(cell, "state_size", None)
        if size is None or not (isinstance(size, int) or
                                (isinstance(size, (list, tuple)) and all(isinstance(s, int) for s in size))):
            raise TypeError(
                f"{type(self).__name__}: the cell needs a state_size (an int, or a list of ints, one per "
                f"state tensor) and a call(x_t, states, training) method; got {type(cell).__name__} with "
                f"state_size={size!r}."
            )
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.input_spec = InputSpec(**_RNN_INPUT)
        self.last_path: str | None = None
        self.states: list | None = None  # the kept states of a stateful layer
        self._expected_batch: int | None = None
        self._allow_fused = True  # tests switch it off to compare the fused paths with the loop
        self._builtin = isinstance(cell, _GatedCell)
        call = getattr(cell, "call", None) or cell.forward
        self._cell_call = call
        self._cell_takes_training = "training" in inspect.signature(call).parameters

    # -------------------------------------------------------------- sizes
    @property
    def state_sizes(self) -> list:
        """One size per state tensor (a stack of cells: all its cells' states, flat, in order)."""
        if self._stacked:
            return self.cell.flat_state_sizes
        size = self.cell.state_size
        return [size] if isinstance(size, int) else list(size)

    @property
    def output_size(self) -> int:
        return getattr(self.cell, "output_size", None) or self.state_sizes[0]

    def build(self, input_shape):
        B, _, F_ = input_shape
        known_axis(self, input_shape, -1, "feature axis")
        if isinstance(self.cell, Layer):
            self.cell.build_from_shape((B, F_))
        self.input_spec.axes = {-1: F_}
        if self.stateful and B is not None:
            self._expected_batch = B
            self.states = [torch.zeros(B, s) for s in self.state_sizes]
        # else (stateful, batch unknown while building, e.g. inside a Sequential built from its first
        # batch): the first call fixes the batch size, as Keras 3 does on an eager first call (StatefulBatch)

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        H = self.output_size
        out = (B, T, H) if self.return_sequences else (B, H)
        if self.return_state and self._stacked:  # one entry per cell, nested as its state_size (Keras)
            return [out] + [[(B, s) for s in size] if isinstance(size, (list, tuple)) else (B, size)
                            for size in self.cell.state_size]
        if self.return_state:
            return [out] + [(B, s) for s in self.state_sizes]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * len(self.state_sizes)
        return out

    @property
    def weights(self):
        return self.cell.weights if isinstance(self.cell, Layer) else list(self.cell.parameters())

    def get_weights(self):
        self._require_built("get_weights")
        return self.cell.get_weights() if isinstance(self.cell, Layer) else super().get_weights()

    def set_weights(self, weights):
        self._require_built("set_weights")
        return self.cell.set_weights(weights) if isinstance(self.cell, Layer) else super().set_weights(weights)

    # -------------------------------------------------------------- stateful
    def reset_states(self, states=None):
        """Zero the kept states of a stateful layer (or set them to ``states``, a list of arrays)."""
        if not self.stateful:
            raise ValueError(f"{layer_label(self)}: reset_states() applies to stateful layers; this one "
                             f"was made with stateful=False (its states start from zeros every call).")
        if self.states is None:
            return
        if states is None:
            self.states = [torch.zeros_like(s) for s in self.states]
        else:
            B = self._expected_batch
            self.states = [s.detach().clone() for s in self._check_initial_state(states, B, self.states[0])]

    reset_state = reset_states

    # -------------------------------------------------------------- calling
    def _check_initial_state(self, initial_state, B: int, like: torch.Tensor) -> list:
        if isinstance(initial_state, (torch.Tensor, np.ndarray)):
            initial_state = [initial_state]
        if self._stacked and isinstance(initial_state, (list, tuple)):
            initial_state = self.cell.flatten_states(initial_state)  # Keras's one entry per cell
        sizes = self.state_sizes
        expected = ", ".join(f"({B}, {s})" for s in sizes)
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(sizes):
            got = len(initial_state) if isinstance(initial_state, (list, tuple)) else type(initial_state).__name__
            raise ValueError(
                f"{layer_label(self)}: initial_state must be a list of {len(sizes)} tensor(s) of shapes "
                f"{expected}, got {got}. An LSTM takes [h, c]; GRU and SimpleRNN take [h]."
            )
        out = []
        for i, (s, size) in enumerate(zip(initial_state, sizes)):
            s = to_tensor(s) if not isinstance(s, torch.Tensor) else s
            if tuple(s.shape) != (B, size):
                raise ValueError(
                    f"{layer_label(self)}: initial_state[{i}] must have shape ({B}, {size}) (batch, units), "
                    f"got {fmt_shape(s.shape)}. Expected shapes: {expected}."
                )
            out.append(s.to(device=like.device, dtype=like.dtype))
        return out

    def _start_states(self, x, initial_state) -> list:
        B = x.shape[0]
        if self.stateful and self._expected_batch is not None and B != self._expected_batch:
            raise ValueError(
                f"{layer_label(self)}: a stateful layer keeps states for a batch of {self._expected_batch}, "
                f"got a batch of {B}. Every batch must have the same size (drop the last incomplete "
                f"batch, e.g. DataLoader(drop_last=True), or pad it), or rebuild with batch_size={B}."
            )
        if initial_state is not None:
            return self._check_initial_state(initial_state, B, x)
        if self.stateful and self.states is None:  # batch size unknown until now: this batch fixes it
            self._expected_batch = B
            self.states = [x.new_zeros(B, s) for s in self.state_sizes]
        if self.stateful and self.states is not None:  # (not None: set just above when it was)
            if self.states[0].device != x.device or self.states[0].dtype != x.dtype:
                self.states = [s.to(device=x.device, dtype=x.dtype) for s in self.states]
            return list(self.states)
        return [x.new_zeros(B, s) for s in self.state_sizes]

    def call(self, inputs, initial_state=None, mask=None, training=None, parallel_steps=False):
        x = inputs
        B, T, _ = x.shape
        check_steps(self, x)
        if mask is not None:
            mask = check_mask(self, mask, B, T, x.device)
        training = bool(training)
        if parallel_steps:
            return self._parallel_steps(x, initial_state, mask, training)
        (result,) = rnn_kernel.run(x, [self.kernel_direction(x, initial_state, training)], mask=mask,
                                   zero_output_for_mask=self.zero_output_for_mask,
                                   return_sequences=self.return_sequences,
                                   need_states=self.return_state or self.stateful, training=training)
        self.record_run(result)
        out = result.sequence if self.return_sequences else result.last
        if not self.return_state:
            return out
        return [out] + (self.cell.nest_states(result.states) if self._stacked else list(result.states))

    def call_with_head(self, inputs, w: torch.Tensor, b: torch.Tensor | None, softmax: bool = False,
                       mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """Inference of this layer and a Dense after it in one native call (``rnn_kernel.run_head``):
        ``inputs`` (B, T, F) -> the Dense's ``(B, T, U)`` output before its activation (``w`` (U, H),
        ``b`` (U,) or None; after a softmax over the U values with ``softmax``), the ``(B, T, H)``
        sequence never made where the fused steps run. ``mask``: the input's (B, T) mask, or None. None
        where it does not apply (a layer that returns states, is stateful or does not return sequences; a
        stacked or custom cell; whatever ``run_head`` refuses): then call the two layers as usual.
        ``Sequential`` calls it."""
        checked = head_input(self, self, inputs, mask) if self.fusable_with_head() else None
        if checked is None:
            return None
        x, mask = checked
        results = rnn_kernel.run_head(x, [self.kernel_direction(x, None, False)], w, b, softmax, mask=mask,
                                      zero_output_for_mask=self.zero_output_for_mask)
        if results is None:
            return None
        self.record_run(results[0])
        return results[0].sequence

    def fusable_with_head(self) -> bool:
        """Whether ``call_with_head`` may apply: sequences returned, no states returned or kept, a built-in cell."""
        return not (self.return_state or self.stateful or not self.return_sequences or self._stacked
                    or not self._builtin)

    def _parallel_steps(self, x, initial_state, mask, training):
        """Every step from ``initial_state``: ``(B, T, F) -> (B, T, H)`` (and each step's states)."""
        why = ("a built-in cell (SimpleRNN, GRU, LSTM)" if not self._builtin else
               "an initial_state (the state every step starts from)" if initial_state is None else
               "no mask" if mask is not None else "go_backwards=False" if self.go_backwards else
               "stateful=False" if self.stateful else
               "recurrent_dropout=0" if self.cell.recurrent_dropout > 0 else None)
        if why:
            raise ValueError(f"{layer_label(self)}: parallel_steps=True (every step from initial_state) needs "
                             f"{why}. Give it, or call the layer without parallel_steps.")
        cell = self.cell
        states = self._check_initial_state(initial_state, x.shape[0], x)
        in_mask, _ = cell.dropout_masks(x, training)
        out, new = cell.recur(cell.project(x, in_mask), [s[:, None] for s in states])  # states (B, 1, H): over T
        self.__dict__["last_path"] = "parallel_steps"
        if not self.return_state:
            return out  # (B, T, H)
        return [out] + list(new)  # each step's states (B, T, H): recur broadcasts them against xw over T

    # -------------------------------------------------------------- the kernel's inputs and outputs
    def kernel_direction(self, x, initial_state=None, training=False) -> rnn_kernel.Direction:
        """This layer's side of an ``rnn_kernel.run`` call on ``x`` (B, T, F): the cell's weights and
        step, this batch's dropout masks, the start states (checked ``initial_state``, the kept states
        of a stateful layer, or zeros) and the direction. ``Bidirectional`` calls it on both layers."""
        spec = self._cell_spec(x, training)
        zeros = initial_state is None and not self.stateful and spec.fused is not None
        states = None if zeros else self._start_states(x, initial_state)  # None: the kernel makes zeros
        return rnn_kernel.Direction(spec, states, self.go_backwards, allow_fused=self._allow_fused)

    def record_run(self, result: rnn_kernel.Result) -> None:
        """Keep what a kernel run leaves for this layer: the path that ran, a stateful layer's states."""
        self.__dict__["last_path"] = result.path  # (plain attribute: skips nn.Module.__setattr__)
        if self.stateful:
            self.states = [s.detach() for s in result.states]

    def _cell_spec(self, x, training) -> rnn_kernel.CellSpec:
        cell: Any = self._modules["cell"]  # (not through nn.Module.__getattr__: this runs at every call)
        if self._stacked:
            return rnn_kernel.CellSpec(None, [], cell.project, cell.recur, cell.dropout_masks(x, training))
        if self._builtin:
            return rnn_kernel.CellSpec(cell.fused_kind, cell.flat_weights(), cell.project, cell.recur,
                                       cell.dropout_masks(x, training), cell.native_kind)
        kw = {"training": training} if self._cell_takes_training else {}

        def recur(x_t, states, _rec_mask):
            out, new = self._cell_call(x_t, states, **kw)
            return out, [new] if isinstance(new, torch.Tensor) else list(new)

        return rnn_kernel.CellSpec(None, [], _identity, recur)


def _identity(x, _in_mask):
    return x


def head_input(owner: Layer, rnn: RNN, inputs, mask):
    """What a ``call_with_head`` runs on: ``owner``'s checked input ``x`` (B, T, F) and ``mask`` checked (errors
    naming ``rnn``, the recurrent layer that meets the input first), or None where ``owner`` is not built or
    the input is not 3-D (then the layers' own calls say what is wrong)."""
    x = owner._prepare_input(inputs)
    if not owner.built or x.dim() != 3:
        return None
    B, T, _ = x.shape
    check_steps(rnn, x)
    return x, (None if mask is None else check_mask(rnn, mask, B, T, x.device))


_KERAS2_ONLY = ("input_length",)  # still accepted (through **kwargs), not in the layers' get_config


class _CellLayer(RNN):
    """SimpleRNN, GRU and LSTM: an ``RNN`` of their own cell, whose arguments they take and expose.

    A subclass sets ``cell_class`` and declares in its ``__init__`` only the arguments of the layer
    that are not the cell's (``use_cudnn``...), decorated with ``takes_args_of(cell_class.__init__,
    RNN.__init__)``. Every other argument goes to the cell or to ``RNN`` by name, and each of the
    cell's is readable on the layer (``layer.units``, ``layer.dropout``, ``layer.recurrent_activation``).
    """

    cell_class: type = _GatedCell
    cell_args: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.cell_args = arg_names(cls.cell_class.__init__)

    def __init__(self, units, **kwargs):
        cell_kw = {k: kwargs.pop(k) for k in self.cell_args if k in kwargs}
        super().__init__(self.cell_class(units, **cell_kw), **kwargs)

    def __getattr__(self, name):
        if name in type(self).cell_args:  # a cell argument, read from the cell (Keras's layer.dropout...)
            return getattr(self._modules["cell"], name)
        return super().__getattr__(name)


class SimpleRNN(_CellLayer):
    """Fully connected RNN whose output is fed back: ``h_t = activation(x_t W + h_{t-1} U + b)``.

    tanh and relu run torch's fused ``rnn_tanh`` / ``rnn_relu`` kernels (inference on CPU: the native
    C++ loop or the TorchScript loop); other activations the step loop.

    Args:
        units: H, the size of the state and of the output.
        activation: ``"tanh"`` (default), ``"relu"`` (both fused) or any other name or callable (the loop).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
            recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed: the cell's (see ``SimpleRNNCell``); readable
            on the layer.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask: as ``RNN``.
        **kwargs: ``name``, ``input_shape``, ``batch_input_shape``, ``batch_size``, ``input_dim``,
            ``input_length``, ``dtype``, ``trainable`` (see ``Layer``).

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``; ``return_state`` adds ``h`` ``(B, H)``.
        weights (Keras layout): kernel ``(F, H)``, recurrent_kernel ``(H, H)``, bias ``(H,)``.
    """

    cell_class = SimpleRNNCell

    @takes_args_of(SimpleRNNCell.__init__, RNN.__init__, skip=_KERAS2_ONLY)
    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)


class GRU(_CellLayer):
    """Gated Recurrent Unit layer (see ``GRUCell`` for the equations and both ``reset_after`` variants).

    ``reset_after=True`` (default) with tanh/sigmoid runs torch's fused GRU kernel (the same
    equations as cuDNN's); ``reset_after=False`` runs the step loop.

    Args:
        units: H, the size of the state and of the output.
        activation, recurrent_activation: the candidate's (tanh) and the gates' (sigmoid); other
            functions run the step loop.
        reset_after: True (default; fused) or False (the original GRU; the step loop).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
            recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed: the cell's (see ``GRUCell``); readable
            on the layer.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask: as ``RNN``.
        use_cudnn, implementation: accepted for Keras compatibility and change nothing: the fused
            kernel (cuDNN on GPU) runs whenever it computes the same thing.
        **kwargs: ``name``, ``input_shape``, ``batch_input_shape``, ``batch_size``, ``input_dim``,
            ``input_length``, ``dtype``, ``trainable`` (see ``Layer``).

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``; ``return_state`` adds ``h`` ``(B, H)``.
        weights (Keras layout): kernel ``(F, 3H)``, recurrent_kernel ``(H, 3H)``, bias ``(2, 3H)``
        (``reset_after``) or ``(3H,)``; gates z, r, h.
    """

    cell_class = GRUCell

    @takes_args_of(GRUCell.__init__, RNN.__init__, skip=_KERAS2_ONLY)
    def __init__(self, units, *, use_cudnn="auto", implementation=2, **kwargs):
        super().__init__(units, **kwargs)
        self.use_cudnn = use_cudnn
        self.implementation = implementation


class LSTM(_CellLayer):
    """Long Short-Term Memory layer (see ``LSTMCell`` for the equations).

    tanh/sigmoid (the defaults) run torch's fused LSTM kernel, also with right-padded masks.

    Args:
        units: H, the size of the states and of the output.
        activation, recurrent_activation: the candidate's and output's (tanh) and the gates'
            (sigmoid); other functions run the step loop.
        unit_forget_bias: initialize the forget gate's bias to ones (default True, as Keras).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
            recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed: the cell's (see ``LSTMCell``); readable
            on the layer.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask: as ``RNN``.
        use_cudnn, implementation: accepted for Keras compatibility and change nothing: the fused
            kernel (cuDNN on GPU) runs whenever it computes the same thing.
        **kwargs: ``name``, ``input_shape``, ``batch_input_shape``, ``batch_size``, ``input_dim``,
            ``input_length``, ``dtype``, ``trainable`` (see ``Layer``).

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``;
        ``return_state`` gives ``[output, h, c]``, h and c ``(B, H)``.
        weights (Keras layout): kernel ``(F, 4H)``, recurrent_kernel ``(H, 4H)``, bias ``(4H,)``;
        gates i, f, c, o. Parameters: ``4 * (F*H + H*H + H)``, as Keras.
    """

    cell_class = LSTMCell

    @takes_args_of(LSTMCell.__init__, RNN.__init__, skip=_KERAS2_ONLY)
    def __init__(self, units, *, use_cudnn="auto", implementation=2, **kwargs):
        super().__init__(units, **kwargs)
        self.use_cudnn = use_cudnn
        self.implementation = implementation


__all__ = ["GRU", "LSTM", "RNN", "SimpleRNN"]
