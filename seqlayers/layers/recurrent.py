"""Recurrent layers with Keras 3 semantics: cells, the generic ``RNN(cell)``, SimpleRNN, GRU, LSTM.

A *cell* computes one step: ``cell.call(x_t, states, training) -> (output, new_states)`` and has a
``state_size`` (an int or a list of ints). ``RNN(cell)`` runs it over the time axis of a
``(B, T, F)`` input with Keras's semantics:

* ``return_sequences``: every step's output ``(B, T, H)``, else the last one ``(B, H)``;
* ``return_state``: ``[output, *final_states]`` (``[output, h, c]`` for an LSTM);
* masks: a masked step keeps the states and repeats the previous output (zeros before the first
  valid step), or outputs zeros with ``zero_output_for_mask``; the output mask is the input mask
  when ``return_sequences``, else None;
* ``go_backwards``: the input is reversed and the sequence of outputs is returned reversed;
* ``stateful``: the final states of a batch are the initial states of the next (detached, batch
  size fixed); ``reset_states()`` zeroes them;
* ``dropout`` / ``recurrent_dropout``: masks drawn once per batch and reused at every step.

Two paths compute the same result (tests pin fused == loop to 1e-5, gradients included):

* **fused** (``layer.last_path`` is ``"fused"`` or ``"fused_padded"``): the built-in cells with
  torch's activations (tanh/sigmoid, SimpleRNN tanh/relu, GRU ``reset_after=True``), no active
  ``recurrent_dropout``, and no mask or a right-padded one run one oneDNN/cuDNN kernel call
  (``rnn_fused.py``; SimpleRNN inference on CPU runs a TorchScript loop there instead,
  ``cell.last_kernel == "scripted"``);
* **loop** (``"loop"``): everything else runs an exact step loop; ``x @ W`` is computed for all
  steps in one matmul and only the recurrence is looped.

The built-in cells keep their parameters in torch's layout (``weight_ih`` ``(G*H, F)``,
``weight_hh`` ``(G*H, H)``, torch's gate order) so the fused call needs no copy;
``get_weights`` / ``set_weights`` / ``weights`` speak Keras's layout.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import activations, initializers
from ..errors import fmt_shape, layer_label
from ..utils import to_tensor
from .base import InputSpec, Layer, weight_tensor
from .core import check_positive_int
from .rnn_fused import PAD_GATE, run_dense, run_right_padded
from .rnn_masks import check_mask, right_padding

_RNN_INPUT = dict(
    ndim=3, dtype="float", expected="input of shape (batch, time, features)",
    hint="A 2-D input usually means the previous recurrent layer needs return_sequences=True "
         "(or add a time axis: x[:, :, None]).",
)


def _check_rate(cls: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{cls}: {arg} must be a number in [0, 1), got {value!r}.")
    return float(value)


def _blocks_to_torch(k: torch.Tensor, perm, H: int) -> torch.Tensor:
    """Keras ``(X, G*H)`` (gates in Keras order) -> torch ``(G*H, X)`` (gates in torch order)."""
    return torch.cat([k[:, p * H:(p + 1) * H] for p in perm], dim=1).t().contiguous()


def _blocks_to_keras(w: torch.Tensor, perm, H: int) -> torch.Tensor:
    """Torch ``(G*H, X)`` -> Keras ``(X, G*H)``; the inverse of ``_blocks_to_torch``."""
    inv = [perm.index(g) for g in range(len(perm))]
    return torch.cat([w[j * H:(j + 1) * H] for j in inv], dim=0).t()


def _vec_to_torch(b, perm, H):
    return torch.cat([b[p * H:(p + 1) * H] for p in perm]).contiguous()


def _vec_to_keras(b, perm, H):
    return torch.cat([b[perm.index(g) * H:(perm.index(g) + 1) * H] for g in range(len(perm))])


# =============================================================================== cells
class _GatedCell(Layer):
    """What the built-in cells share: hyper-parameters, weights in torch layout, dropout masks.

    Subclasses set ``gates`` (G), ``perm`` (torch gate order as indices into Keras's order) and
    implement ``recur`` (one step of the recurrence given the precomputed ``x @ W + b``).
    """

    gates: int = 1
    perm: tuple = (0,)
    kernel_name: str = ""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = check_positive_int(cls, "units", units)
        self.activation = activations.get(activation, cls)
        self.recurrent_activation = activations.get(recurrent_activation, cls)
        self.use_bias = bool(use_bias)
        self.initializers = {k: initializers.get(v, cls) for k, v in (
            ("kernel", kernel_initializer), ("recurrent", recurrent_initializer), ("bias", bias_initializer))}
        self.dropout = _check_rate(cls, "dropout", dropout)
        self.recurrent_dropout = _check_rate(cls, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.input_spec = InputSpec(ndim=2, dtype="float", expected="a step input of shape (batch, features)")

    # -------------------------------------------------------------- sizes
    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    # -------------------------------------------------------------- parameters
    def build(self, input_shape):
        F_, H, G = input_shape[-1], self.units, self.gates
        if F_ is None:
            raise ValueError(f"{layer_label(self)}: the feature axis of the input must be known, got "
                             f"shape {fmt_shape(input_shape)}.")
        kernel = initializers.initialize(torch.empty(F_, G * H), self.initializers["kernel"])  # Keras layout
        recurrent = initializers.initialize(torch.empty(H, G * H), self.initializers["recurrent"])
        self.weight_ih = nn.Parameter(_blocks_to_torch(kernel, self.perm, H))  # (G*H, F)
        self.weight_hh = nn.Parameter(_blocks_to_torch(recurrent, self.perm, H))  # (G*H, H)
        self._build_bias()
        self.input_spec.axes = {-1: F_}

    def _build_bias(self):
        H, G = self.units, self.gates
        if self.use_bias:
            self.bias = nn.Parameter(_vec_to_torch(self._init_bias(G * H), self.perm, H))
            self.register_buffer("_zero_bias", torch.zeros(G * H), persistent=False)  # torch's 2nd bias
        else:
            self.bias = None

    def _init_bias(self, n):
        return initializers.initialize(torch.empty(n), self.initializers["bias"])

    def flat_weights(self) -> list:
        """The kernel's flat weights ``[w_ih, w_hh(, b_ih, b_hh)]`` (no copies)."""
        if self.use_bias:
            return [self.weight_ih, self.weight_hh, self.bias, self._zero_bias]
        return [self.weight_ih, self.weight_hh]

    @property
    def weights(self):
        """Keras layout, differentiable: kernel ``(F, G*H)``, recurrent_kernel ``(H, G*H)``, bias."""
        H = self.units
        out = [_blocks_to_keras(self.weight_ih, self.perm, H), _blocks_to_keras(self.weight_hh, self.perm, H)]
        if self.use_bias:
            out.append(self._keras_bias())
        return out

    def _keras_bias(self):
        return _vec_to_keras(self.bias, self.perm, self.units)

    def _load_keras_bias(self, b):
        self.bias.copy_(_vec_to_torch(b, self.perm, self.units))

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        own = self.weights
        weights = [weight_tensor(self, w, i) for i, w in enumerate(weights)]
        if len(weights) != len(own) or any(tuple(w.shape) != tuple(o.shape) for w, o in zip(weights, own)):
            raise ValueError(
                f"{layer_label(self)}: set_weights expected {len(own)} arrays of shapes "
                f"{', '.join(fmt_shape(o.shape) for o in own)} (Keras layout), got "
                f"{', '.join(fmt_shape(w.shape) for w in weights) or 'none'}."
            )
        H = self.units
        dev, dt = self.weight_ih.device, self.weight_ih.dtype
        weights = [w.to(device=dev, dtype=dt) for w in weights]
        with torch.no_grad():
            self.weight_ih.copy_(_blocks_to_torch(weights[0], self.perm, H))
            self.weight_hh.copy_(_blocks_to_torch(weights[1], self.perm, H))
            if self.use_bias:
                self._load_keras_bias(weights[2])

    # -------------------------------------------------------------- fused path
    @property
    def fusable(self) -> bool:
        """True when torch's fused kernel computes exactly this cell."""
        return False

    # -------------------------------------------------------------- dropout
    def dropout_masks(self, x: torch.Tensor, training: bool):
        """``(input_mask, recurrent_mask)``, drawn once per batch (None when inactive).

        Keras uses one input mask ``(B, F)`` when ``recurrent_dropout`` is 0, and one mask per gate
        ``(G, B, F)`` / ``(G, B, H)`` (its ``implementation=1``) when it is not.
        """
        if not training or (self.dropout == 0.0 and self.recurrent_dropout == 0.0):
            return None, None
        B, _, F_ = x.shape
        per_gate = self.recurrent_dropout > 0.0 and self.gates > 1
        lead = (self.gates,) if per_gate else ()

        gen = None
        if self.seed is not None:  # a seeded layer draws reproducible masks from its own generator
            if self.__dict__.get("_generator") is None:
                self.__dict__["_generator"] = torch.Generator().manual_seed(int(self.seed))
            gen = self.__dict__["_generator"]

        def draw(rate, n):
            if rate == 0.0:
                return None
            keep = torch.full(lead + (B, n), 1.0 - rate, dtype=x.dtype, device="cpu" if gen else x.device)
            return (torch.bernoulli(keep, generator=gen) / (1.0 - rate)).to(x.device)

        return draw(self.dropout, F_), draw(self.recurrent_dropout, self.units)

    # -------------------------------------------------------------- the step loop
    def project(self, x: torch.Tensor, in_mask=None) -> torch.Tensor:
        """``x @ W + b`` for all steps at once: ``(B, T, F) -> (B, T, G*H)`` (torch gate order)."""
        b = self.bias if self.use_bias else None
        if in_mask is None:
            return F.linear(x, self.weight_ih, b)
        if in_mask.dim() == 2:
            return F.linear(x * in_mask[:, None, :], self.weight_ih, b)
        H = self.units
        parts = []
        for j, g in enumerate(self.perm):  # one input mask per gate (Keras implementation=1)
            rows = slice(j * H, (j + 1) * H)
            parts.append(F.linear(x * in_mask[g][:, None, :], self.weight_ih[rows], None if b is None else b[rows]))
        return torch.cat(parts, dim=-1)

    def _hidden_proj(self, h, rec_mask, rows=None):
        """``h @ U`` (torch gate order), with per-gate recurrent dropout masks when given."""
        w = self.weight_hh if rows is None else self.weight_hh[rows]
        if rec_mask is None:
            return h @ w.t()
        if rec_mask.dim() == 2:
            return (h * rec_mask) @ w.t()
        H = self.units
        start = 0 if rows is None else rows.start // H
        n = w.shape[0] // H
        return torch.cat([(h * rec_mask[self.perm[start + j]]) @ w[j * H:(j + 1) * H].t() for j in range(n)], dim=-1)

    def recur(self, xw_t, states, rec_mask=None):
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        """One step: ``inputs`` (B, F), ``states`` a list of (B, H); returns ``(output, new_states)``."""
        if isinstance(states, torch.Tensor):
            states = [states]
        x = inputs[:, None, :]  # (B, 1, F)
        in_mask, rec_mask = self.dropout_masks(x, training)
        return self.recur(self.project(x, in_mask)[:, 0], list(states), rec_mask)


class SimpleRNNCell(_GatedCell):
    """One step of a fully connected RNN: ``h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)``.

    Shape:
        input: ``(B, F)``; states: ``[h]`` with h ``(B, H)``; output: ``(B, H)``.
        weights (Keras layout): kernel ``(F, H)``, recurrent_kernel ``(H, H)``, bias ``(H,)``.
    """

    gates, perm = 1, (0,)

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation="sigmoid", use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, **kwargs)

    @property
    def kernel_name(self):
        return "rnn_relu" if self.activation is torch.relu else "rnn_tanh"

    @property
    def fusable(self):
        return self.activation is torch.tanh or self.activation is torch.relu

    def recur(self, xw_t, states, rec_mask=None):
        h = self.activation(xw_t + self._hidden_proj(states[0], rec_mask))
        return h, [h]


class LSTMCell(_GatedCell):
    """One step of a Long Short-Term Memory cell (Hochreiter and Schmidhuber, 1997).

    With ``a`` = activation (tanh) and ``s`` = recurrent_activation (sigmoid)::

        i = s(x W_i + h U_i + b_i)      f = s(x W_f + h U_f + b_f)
        g = a(x W_c + h U_c + b_c)      o = s(x W_o + h U_o + b_o)
        c' = f * c + i * g              h' = o * a(c')

    ``unit_forget_bias`` initializes ``b_f`` to ones (Keras's default).

    Shape:
        input: ``(B, F)``; states: ``[h, c]``, each ``(B, H)``; output: ``h'`` ``(B, H)``.
        weights (Keras layout): kernel ``(F, 4H)``, recurrent_kernel ``(H, 4H)``, bias ``(4H,)``,
        gates in the order i, f, c, o (torch's order too).
    """

    gates, perm, kernel_name = 4, (0, 1, 2, 3), "lstm"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0,
                 seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _init_bias(self, n):
        b = super()._init_bias(n)
        if self.unit_forget_bias:
            H = self.units
            with torch.no_grad():
                b[H:2 * H] = 1.0
        return b

    def build(self, input_shape):
        super().build(input_shape)
        H = self.units
        col = torch.zeros(4 * H, 1)  # the is_pad feature's kernel column (rnn_fused.py)
        col[:H] = -PAD_GATE  # input gate -> 0 at padded steps
        col[H:2 * H] = PAD_GATE  # forget gate -> 1 at padded steps: c is frozen exactly
        self.register_buffer("pad_column", col, persistent=False)

    @property
    def fusable(self):
        return self.activation is torch.tanh and self.recurrent_activation is torch.sigmoid

    def recur(self, xw_t, states, rec_mask=None):
        h, c = states
        gates = xw_t + self._hidden_proj(h, rec_mask)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        s, a = self.recurrent_activation, self.activation
        c = s(f) * c + s(i) * a(g)
        h = s(o) * a(c)
        return h, [h, c]


class GRUCell(_GatedCell):
    """One step of a Gated Recurrent Unit (Cho et al., 2014), Keras's two variants.

    With ``a`` = activation (tanh) and ``s`` = recurrent_activation (sigmoid)::

        z = s(x W_z + h U_z + b_z)      r = s(x W_r + h U_r + b_r)
        reset_after=True (default, cuDNN's):  n = a(x W_h + b_h + r * (h U_h + b'_h))
        reset_after=False (original):         n = a(x W_h + b_h + (r * h) U_h)
        h' = z * h + (1 - z) * n

    Shape:
        input: ``(B, F)``; states: ``[h]`` with h ``(B, H)``; output: ``(B, H)``.
        weights (Keras layout): kernel ``(F, 3H)``, recurrent_kernel ``(H, 3H)``, bias ``(2, 3H)``
        with ``reset_after`` (input bias, recurrent bias) else ``(3H,)``; gates z, r, h
        (stored in torch's order r, z, n).
    """

    gates, perm, kernel_name = 3, (1, 0, 2), "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)
        self.reset_after = bool(reset_after)

    def _build_bias(self):
        H = self.units
        if not self.use_bias:
            self.bias = None
            self.bias_hh = None
            return
        if self.reset_after:
            b = self._init_bias(2 * 3 * H).reshape(2, 3 * H)  # Keras's (2, 3H): input, recurrent
            self.bias = nn.Parameter(_vec_to_torch(b[0], self.perm, H))
            self.bias_hh = nn.Parameter(_vec_to_torch(b[1], self.perm, H))
        else:
            self.bias = nn.Parameter(_vec_to_torch(self._init_bias(3 * H), self.perm, H))
            self.bias_hh = None

    def flat_weights(self):
        if self.use_bias:
            return [self.weight_ih, self.weight_hh, self.bias, self.bias_hh]
        return [self.weight_ih, self.weight_hh]

    def _keras_bias(self):
        b = _vec_to_keras(self.bias, self.perm, self.units)
        if self.reset_after:
            return torch.stack([b, _vec_to_keras(self.bias_hh, self.perm, self.units)])  # (2, 3H)
        return b

    def _load_keras_bias(self, b):
        if self.reset_after:
            self.bias.copy_(_vec_to_torch(b[0], self.perm, self.units))
            self.bias_hh.copy_(_vec_to_torch(b[1], self.perm, self.units))
        else:
            self.bias.copy_(_vec_to_torch(b, self.perm, self.units))

    @property
    def fusable(self):
        return self.reset_after and self.activation is torch.tanh and self.recurrent_activation is torch.sigmoid

    def recur(self, xw_t, states, rec_mask=None):
        h = states[0]
        H = self.units
        s, a = self.recurrent_activation, self.activation
        xr, xz, xn = xw_t.chunk(3, dim=1)  # torch gate order r, z, n
        if self.reset_after:
            hw = self._hidden_proj(h, rec_mask)  # (B, 3H)
            if self.bias_hh is not None:
                hw = hw + self.bias_hh
            hr, hz, hn = hw.chunk(3, dim=1)
            r, z = s(xr + hr), s(xz + hz)
            n = a(xn + r * hn)
        else:
            hr, hz = self._hidden_proj(h, rec_mask, rows=slice(0, 2 * H)).chunk(2, dim=1)
            r, z = s(xr + hr), s(xz + hz)
            h_n = h if rec_mask is None else h * (rec_mask if rec_mask.dim() == 2 else rec_mask[2])
            n = a(xn + (r * h_n) @ self.weight_hh[2 * H:].t())
        h = z * h + (1 - z) * n
        return h, [h]


# =============================================================================== RNN layers
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
            ``call(x_t, states, training) -> (output, new_states)`` (``training`` optional).
        return_sequences, return_state, go_backwards, stateful, zero_output_for_mask: as Keras.
        unroll: accepted for Keras compatibility; it changes nothing here.
        input_length: Keras 2's shorthand: with ``input_dim``, ``input_shape=(input_length, input_dim)``.

    Call arguments: ``mask`` (B, T) bool, ``initial_state`` (a list of (B, size) tensors),
    ``training``. ``layer.last_path`` says which path ran: ``"fused"``, ``"fused_padded"``, ``"loop"``.

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
        size = getattr(cell, "state_size", None)
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
        self._time_order = False  # Bidirectional: return a go_backwards sequence in time order
        self._allow_fused = True  # tests switch it off to compare the fused paths with the loop
        self._builtin = isinstance(cell, _GatedCell)
        call = getattr(cell, "call", None) or cell.forward
        self._cell_call = call
        self._cell_takes_training = "training" in inspect.signature(call).parameters

    # -------------------------------------------------------------- sizes
    @property
    def state_sizes(self) -> list:
        size = self.cell.state_size
        return [size] if isinstance(size, int) else list(size)

    @property
    def output_size(self) -> int:
        return getattr(self.cell, "output_size", None) or self.state_sizes[0]

    def build(self, input_shape):
        B, _, F_ = input_shape
        if F_ is None:
            raise ValueError(f"{layer_label(self)}: the feature axis of the input must be known, got "
                             f"shape {fmt_shape(input_shape)}.")
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
        if self.stateful:
            if self.states[0].device != x.device or self.states[0].dtype != x.dtype:
                self.states = [s.to(device=x.device, dtype=x.dtype) for s in self.states]
            return list(self.states)
        return [x.new_zeros(B, s) for s in self.state_sizes]

    def call(self, inputs, initial_state=None, mask=None, training=None):
        x = inputs
        B, T, _ = x.shape
        if T == 0:
            raise ValueError(f"{layer_label(self)}: expected at least one time step, got input of shape "
                             f"{fmt_shape(x.shape)}. Drop empty sequences (or pad them to length 1 and mask "
                             f"the padding) before the recurrent layer.")
        mask = check_mask(self, mask, B, T, x.device)
        states = self._start_states(x, initial_state)
        seq, last, final = self._run(x, states, mask, bool(training))
        if self.stateful:
            self.states = [s.detach() for s in final]
        out = seq if self.return_sequences else last
        return [out] + list(final) if self.return_state else out

    def _run(self, x, states, mask, training):
        """Pick the path; returns ``(sequence or None, last_output, final_states)``."""
        cell = self.cell
        in_mask = rec_mask = None
        fused = False
        if self._builtin:
            in_mask, rec_mask = cell.dropout_masks(x, training)
            fused = self._allow_fused and cell.fusable and rec_mask is None
        kind, lengths = "full", None
        if mask is not None and fused:
            lengths, kind = right_padding(mask)
        elif mask is not None:
            kind = "other"
        if fused and kind != "other":
            if in_mask is not None:
                x = x * in_mask[:, None, :]  # the same input dropout mask at every step
            if kind == "full":
                self.__dict__["last_path"] = "fused"  # (plain attribute: skips nn.Module.__setattr__)
                return run_dense(cell, x, states, training, self.go_backwards, self._time_order)
            self.__dict__["last_path"] = "fused_padded"
            return run_right_padded(cell, x, states, training, mask, lengths, self.go_backwards,
                                    self.zero_output_for_mask, self._time_order, self.return_sequences,
                                    need_states=self.return_state or self.stateful)
        self.__dict__["last_path"] = "loop"
        return self._loop(x, states, mask, training, in_mask, rec_mask)

    def _loop(self, x, states, mask, training, in_mask=None, rec_mask=None):
        """The exact step loop (Keras's ``backend.rnn``), in processing order."""
        B, T, _ = x.shape
        if self.go_backwards:
            x = x.flip(1)  # processing order: last step first
            mask = None if mask is None else mask.flip(1)
        if self._builtin:
            xw = self.cell.project(x, in_mask)  # (B, T, G*H): the input half of every step at once

            def step(t, states):
                return self.cell.recur(xw[:, t], states, rec_mask)
        else:
            kw = {"training": training} if self._cell_takes_training else {}

            def step(t, states):
                out, new = self._cell_call(x[:, t], states, **kw)
                return out, [new] if isinstance(new, torch.Tensor) else list(new)

        outputs, prev = [], None
        out = None
        for t in range(T):
            out, new = step(t, states)
            if mask is not None:
                m = mask[:, t, None]  # (B, 1)
                if prev is None:
                    prev = torch.zeros_like(out)
                out = torch.where(m, out, torch.zeros_like(out) if self.zero_output_for_mask else prev)
                new = [torch.where(m, n, s) for n, s in zip(new, states)]
                prev = out
            states = new
            if self.return_sequences:
                outputs.append(out)
        seq = None
        if self.return_sequences:
            seq = torch.stack(outputs, dim=1)  # (B, T, H)
            if self.go_backwards and self._time_order:
                seq = seq.flip(1)
        return seq, out, states


class SimpleRNN(RNN):
    """Fully connected RNN whose output is fed back: ``h_t = activation(x_t W + h_{t-1} U + b)``.

    tanh and relu run torch's fused ``rnn_tanh`` / ``rnn_relu`` kernels; other activations the loop.

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``; ``return_state`` adds ``h`` ``(B, H)``.
        weights (Keras layout): kernel ``(F, H)``, recurrent_kernel ``(H, H)``, bias ``(H,)``.
    """

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, seed=None, **kwargs):
        cell = SimpleRNNCell(units, activation=activation, use_bias=use_bias,
                             kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                             bias_initializer=bias_initializer, dropout=dropout,
                             recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)
        self.units = cell.units


class GRU(RNN):
    """Gated Recurrent Unit layer (see ``GRUCell`` for the equations and both ``reset_after`` variants).

    ``reset_after=True`` (default) with tanh/sigmoid runs torch's fused GRU kernel (the same
    equations as cuDNN's); ``reset_after=False`` runs the step loop. ``use_cudnn`` and
    ``implementation`` are accepted for Keras compatibility and change nothing.

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``; ``return_state`` adds ``h`` ``(B, H)``.
        weights (Keras layout): kernel ``(F, 3H)``, recurrent_kernel ``(H, 3H)``, bias ``(2, 3H)``
        (``reset_after``) or ``(3H,)``; gates z, r, h.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 zero_output_for_mask=False, seed=None, use_cudnn="auto", implementation=2, **kwargs):
        cell = GRUCell(units, activation=activation, recurrent_activation=recurrent_activation,
                       use_bias=use_bias, kernel_initializer=kernel_initializer,
                       recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                       dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after, seed=seed)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)
        self.units = cell.units


class LSTM(RNN):
    """Long Short-Term Memory layer (see ``LSTMCell`` for the equations).

    tanh/sigmoid (the defaults) run torch's fused LSTM kernel, also with right-padded masks.
    ``use_cudnn`` and ``implementation`` are accepted for Keras compatibility and change nothing:
    the fused kernel (cuDNN on GPU) is used whenever it computes the same thing.

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, H)`` with ``return_sequences``, else ``(B, H)``;
        ``return_state`` gives ``[output, h, c]``, h and c ``(B, H)``.
        weights (Keras layout): kernel ``(F, 4H)``, recurrent_kernel ``(H, 4H)``, bias ``(4H,)``;
        gates i, f, c, o. Parameters: ``4 * (F*H + H*H + H)``, as Keras.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, seed=None, use_cudnn="auto", implementation=2,
                 **kwargs):
        cell = LSTMCell(units, activation=activation, recurrent_activation=recurrent_activation,
                        use_bias=use_bias, kernel_initializer=kernel_initializer,
                        recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                        unit_forget_bias=unit_forget_bias, dropout=dropout,
                        recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)
        self.units = cell.units


__all__ = ["RNN", "SimpleRNN", "GRU", "LSTM", "SimpleRNNCell", "GRUCell", "LSTMCell"]
