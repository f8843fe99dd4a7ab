"""The recurrent cells: one step of SimpleRNN, LSTM and GRU, with Keras's arguments and weights.

A *cell* computes one step: ``cell.call(x_t, states, training) -> (output, new_states)`` and has a
``state_size`` (an int or a list of ints). ``RNN(cell)`` (``rnn.py``) runs it over time.

The built-in cells keep their parameters in torch's layout (``weight_ih`` ``(G*H, F)``,
``weight_hh`` ``(G*H, H)``, torch's gate order) so torch's fused kernels take them without a copy;
``get_weights`` / ``set_weights`` / ``weights`` speak Keras's layout. Each cell also says which
fused kernel computes it exactly (``fused_kind``) and offers the two halves of its step to the exact
loop: ``project`` (``x @ W + b`` for every step at once) and ``recur`` (the recurrence). The LSTM and
GRU equations themselves are ``rnn_steps.py``'s, on tensors, shared with the exported op (``rnn_op.py``).

Each argument is declared once: the arguments every cell shares in ``_GatedCell.__init__``, a
cell's own ones in its ``__init__``; ``takes_args_of`` gives each ``__init__`` the full signature
(and so the full ``get_config``), and the layers in ``rnn.py`` take their cell's signature the same way.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from .. import activations, constraints, initializers, regularizers
from ..errors import fmt_shape, known_axis, layer_label
from .base import InputSpec, Layer, weight_tensor
from .core import check_positive_int
from .rnn_steps import gru_step, lstm_step


def takes_args_of(*others, skip=()):
    """Decorator: the ``__init__``'s signature is its own positional parameters, then the parameters
    with defaults of ``others`` it does not name itself (keyword-only; none named in ``skip``), then
    its own keyword-only parameters, then ``**kwargs``.

    The function still receives the inherited ones through ``**kwargs``; the signature is what
    ``get_config``, ``help()`` and argument checking see, so an argument declared once (in a base
    cell, in a cell, in ``RNN``) is complete everywhere.
    """
    def deco(init):
        own = [p for p in inspect.signature(init).parameters.values() if p.kind is not p.VAR_KEYWORD]
        head = [p for p in own if p.kind is not p.KEYWORD_ONLY]
        tail = [p for p in own if p.kind is p.KEYWORD_ONLY]
        names = {p.name for p in own} | set(skip)
        inherited = []
        for other in others:
            for p in inspect.signature(other).parameters.values():
                if p.name in names or p.default is p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                inherited.append(p.replace(kind=p.KEYWORD_ONLY))
                names.add(p.name)
        rest = [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
        init.__signature__ = inspect.Signature(head + inherited + tail + rest)
        return init
    return deco


def arg_names(init) -> tuple:
    """The named parameters of a (possibly ``takes_args_of``-extended) ``__init__``, without ``self``."""
    return tuple(p.name for p in inspect.signature(init).parameters.values()
                 if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))


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
    """What the built-in cells share: their common arguments, weights in torch layout, dropout masks.

    Subclasses set ``gates`` (G), ``perm`` (torch gate order as indices into Keras's order) and
    implement ``recur`` (one step of the recurrence given the precomputed ``x @ W + b``; any leading
    axes, the states broadcast against it: ``RNN``'s ``parallel_steps`` passes ``(B, T, G*H)`` and
    states ``(B, 1, H)``).

    The arguments are documented on the cells (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``).
    """

    gates: int = 1
    perm: tuple = (0,)
    kernel_name: str = ""
    recurrent_activation = None  # SimpleRNN has none; LSTM and GRU take one

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = check_positive_int(cls, "units", units)
        self.activation = activations.get(activation, cls)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, cls)
        self.recurrent_initializer = initializers.get(recurrent_initializer, cls)
        self.bias_initializer = initializers.get(bias_initializer, cls)
        self.kernel_regularizer = regularizers.get(kernel_regularizer, cls)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer, cls)
        self.bias_regularizer = regularizers.get(bias_regularizer, cls)
        self.kernel_constraint = constraints.get(kernel_constraint, cls)
        self.recurrent_constraint = constraints.get(recurrent_constraint, cls)
        self.bias_constraint = constraints.get(bias_constraint, cls)
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
        F_, H, G = known_axis(self, input_shape, -1, "feature axis"), self.units, self.gates
        kernel = initializers.initialize(torch.empty(F_, G * H), self.kernel_initializer)  # Keras layout
        recurrent = initializers.initialize(torch.empty(H, G * H), self.recurrent_initializer)
        self.weight_ih = nn.Parameter(_blocks_to_torch(kernel, self.perm, H))  # (G*H, F)
        self.weight_hh = nn.Parameter(_blocks_to_torch(recurrent, self.perm, H))  # (G*H, H)
        self._build_bias()
        self.declare_weight("weight_ih", self.kernel_regularizer, self.kernel_constraint)
        self.declare_weight("weight_hh", self.recurrent_regularizer, self.recurrent_constraint)
        if self.use_bias:
            self.declare_weight("bias", self.bias_regularizer, self.bias_constraint)
        self.input_spec.axes = {-1: F_}

    def _keras_value(self, name):  # regularizers and constraints see Keras's layout
        if name in ("weight_ih", "weight_hh"):
            return _blocks_to_keras(getattr(self, name), self.perm, self.units)
        if name == "bias":
            return self._keras_bias()
        return super()._keras_value(name)

    def _set_keras_value(self, name, value):
        if name in ("weight_ih", "weight_hh"):
            getattr(self, name).copy_(_blocks_to_torch(value, self.perm, self.units))
        elif name == "bias":
            self._load_keras_bias(value)
        else:
            super()._set_keras_value(name, value)

    def _build_bias(self):
        H, G = self.units, self.gates
        if self.use_bias:
            self.bias = nn.Parameter(_vec_to_torch(self._init_bias(G * H), self.perm, H))
            self.register_buffer("_zero_bias", torch.zeros(G * H), persistent=False)  # torch's 2nd bias
        else:
            self.bias = None

    def _apply(self, fn, recurse=True):
        """After a move, torch's second bias is zeros again: it is not in the state dict, so after
        ``to("meta")`` + ``to_empty()`` + ``load_state_dict`` it would otherwise hold garbage."""
        out = super()._apply(fn, recurse)
        zero = self.__dict__["_buffers"].get("_zero_bias")
        if zero is not None and zero.device.type != "meta":
            with torch.no_grad():
                zero.zero_()
        return out

    def _init_bias(self, n):
        return initializers.initialize(torch.empty(n), self.bias_initializer)

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

    @property
    def fused_kind(self) -> str | None:
        """The torch kernel that computes this cell exactly (``"lstm"``, ``"gru"``, ``"rnn_tanh"``,
        ``"rnn_relu"``), or None when only the step loop does."""
        return self.kernel_name if self.fusable else None

    @property
    def native_kind(self) -> str | None:
        """The native C++ inference loop that computes this cell (``"lstm"``, ``"gru"``,
        ``"gru_reset_before"``; ``rnn_native.py``), or None."""
        kind = self.fused_kind
        return kind if kind in ("lstm", "gru") else None

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

    Args:
        units: H, the size of the state and of the output.
        activation: the output activation (a Keras name or a callable; default ``"tanh"``).
        use_bias: add the bias (default True).
        kernel_initializer: for the input kernel ``(F, H)`` (default ``"glorot_uniform"``).
        recurrent_initializer: for the recurrent kernel ``(H, H)`` (default ``"orthogonal"``).
        bias_initializer: for the bias (default ``"zeros"``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on the kernel, the
            recurrent kernel and the bias in Keras's layout (``"l2"``, ``regularizers.L1L2(...)``),
            listed in ``layer.losses`` and added to the training loss (default None).
        kernel_constraint, recurrent_constraint, bias_constraint: projections of the same weights
            applied after each optimizer step (``constraints.MaxNorm(3)``...; default None).
        dropout: fraction of the input dropped in training, in [0, 1) (one mask per batch, reused at every step).
        recurrent_dropout: fraction of the state ``h`` dropped in the recurrence, in [0, 1) (one mask per batch).
        seed: seed of the dropout masks (the cell draws them from a generator of its own).

    Shape:
        input: ``(B, F)``; states: ``[h]`` with h ``(B, H)``; output: ``(B, H)``.
        weights (Keras layout): kernel ``(F, H)``, recurrent_kernel ``(H, H)``, bias ``(H,)``.
    """

    gates, perm = 1, (0,)

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

    Args:
        units: H, the size of the state and of the output.
        activation: the output activation and the candidate's (a Keras name or a callable; default ``"tanh"``).
        recurrent_activation: the gates' activation (default ``"sigmoid"``).
        use_bias: add the bias (default True).
        kernel_initializer: for the input kernel ``(F, 4H)`` (default ``"glorot_uniform"``).
        recurrent_initializer: for the recurrent kernel ``(H, 4H)`` (default ``"orthogonal"``).
        bias_initializer: for the bias (default ``"zeros"``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on the kernel, the
            recurrent kernel and the bias in Keras's layout (``"l2"``, ``regularizers.L1L2(...)``),
            listed in ``layer.losses`` and added to the training loss (default None).
        kernel_constraint, recurrent_constraint, bias_constraint: projections of the same weights
            applied after each optimizer step (``constraints.MaxNorm(3)``...; default None).
        unit_forget_bias: initialize the forget gate's bias to ones (Keras's default True).
        dropout: fraction of the input dropped in training, in [0, 1) (one mask per batch, reused at every step).
        recurrent_dropout: fraction of the state ``h`` dropped in the recurrence, in [0, 1) (one mask per batch).
        seed: seed of the dropout masks (the cell draws them from a generator of its own).

    Shape:
        input: ``(B, F)``; states: ``[h, c]``, each ``(B, H)``; output: ``h'`` ``(B, H)``.
        weights (Keras layout): kernel ``(F, 4H)``, recurrent_kernel ``(H, 4H)``, bias ``(4H,)``,
        gates in the order i, f, c, o (torch's order too).
    """

    gates, perm, kernel_name = 4, (0, 1, 2, 3), "lstm"

    @takes_args_of(_GatedCell.__init__)
    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", *, unit_forget_bias=True,
                 **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation, type(self).__name__)
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

    @property
    def fusable(self):
        return self.activation is torch.tanh and self.recurrent_activation is torch.sigmoid

    def recur(self, xw_t, states, rec_mask=None):
        h, c = states
        gates = xw_t + self._hidden_proj(h, rec_mask)  # (B, 4H)
        h, c = lstm_step(gates, c, self.activation, self.recurrent_activation)
        return h, [h, c]


class GRUCell(_GatedCell):
    """One step of a Gated Recurrent Unit (Cho et al., 2014), Keras's two variants.

    With ``a`` = activation (tanh) and ``s`` = recurrent_activation (sigmoid)::

        z = s(x W_z + h U_z + b_z)      r = s(x W_r + h U_r + b_r)
        reset_after=True (default, cuDNN's):  n = a(x W_h + b_h + r * (h U_h + b'_h))
        reset_after=False (original):         n = a(x W_h + b_h + (r * h) U_h)
        h' = z * h + (1 - z) * n

    Args:
        units: H, the size of the state and of the output.
        activation: the output activation of the candidate (a Keras name or a callable; default ``"tanh"``).
        recurrent_activation: the gates' activation (default ``"sigmoid"``).
        use_bias: add the bias (default True).
        kernel_initializer: for the input kernel ``(F, 3H)`` (default ``"glorot_uniform"``).
        recurrent_initializer: for the recurrent kernel ``(H, 3H)`` (default ``"orthogonal"``).
        bias_initializer: for the bias (default ``"zeros"``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on the kernel, the
            recurrent kernel and the bias in Keras's layout (``"l2"``, ``regularizers.L1L2(...)``),
            listed in ``layer.losses`` and added to the training loss (default None).
        kernel_constraint, recurrent_constraint, bias_constraint: projections of the same weights
            applied after each optimizer step (``constraints.MaxNorm(3)``...; default None).
        reset_after: apply the reset gate after the recurrent matmul (True, cuDNN's and Keras 3's
            default, runs the fused kernel) or before it (False, the original GRU; the step loop).
        dropout: fraction of the input dropped in training, in [0, 1) (one mask per batch, reused at every step).
        recurrent_dropout: fraction of the state ``h`` dropped in the recurrence, in [0, 1) (one mask per batch).
        seed: seed of the dropout masks (the cell draws them from a generator of its own).

    Shape:
        input: ``(B, F)``; states: ``[h]`` with h ``(B, H)``; output: ``(B, H)``.
        weights (Keras layout): kernel ``(F, 3H)``, recurrent_kernel ``(H, 3H)``, bias ``(2, 3H)``
        with ``reset_after`` (input bias, recurrent bias) else ``(3H,)``; gates z, r, h
        (stored in torch's order r, z, n).
    """

    gates, perm, kernel_name = 3, (1, 0, 2), "gru"

    @takes_args_of(_GatedCell.__init__)
    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", *, reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation, type(self).__name__)
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

    @property
    def native_kind(self):
        standard = self.activation is torch.tanh and self.recurrent_activation is torch.sigmoid
        return None if not standard else ("gru" if self.reset_after else "gru_reset_before")

    def recur(self, xw_t, states, rec_mask=None):
        h = states[0]
        s, a = self.recurrent_activation, self.activation
        if self.reset_after:
            hw = self._hidden_proj(h, rec_mask)  # (B, 3H)
            if self.bias_hh is not None:
                hw = hw + self.bias_hh
            h = gru_step(xw_t, hw, h, a, s)
            return h, [h]
        # reset_before (the original GRU): the reset gate scales h before its product with U_h
        H = self.units
        xr, xz, xn = xw_t.chunk(3, dim=-1)  # torch gate order r, z, n
        hr, hz = self._hidden_proj(h, rec_mask, rows=slice(0, 2 * H)).chunk(2, dim=-1)
        r, z = s(xr + hr), s(xz + hz)
        h_n = h if rec_mask is None else h * (rec_mask if rec_mask.dim() == 2 else rec_mask[2])
        n = a(xn + (r * h_n) @ self.weight_hh[2 * H:].t())
        h = z * h + (1 - z) * n
        return h, [h]


__all__ = ["GRUCell", "LSTMCell", "SimpleRNNCell"]
