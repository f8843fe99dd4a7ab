"""The step equations of the gated cells, on tensors: the one place for the LSTM and GRU maths that
the cells (``cells.py``: their activations, their recurrent dropout) and the exported op's step loop
(``rnn_op.py``: torch's cells on flat weights) both run.

The caller computes the two halves of the pre-activations in torch's gate order: the input half
``x @ W + b`` (for every step at once) and the recurrent half ``h @ U`` (with whatever dropout mask
applies). Shapes are given for one step, (B, ...); any leading axes work, the states broadcasting
against them (``RNN``'s ``parallel_steps`` passes ``(B, T, G*H)`` with states ``(B, 1, H)``).
Tensors in, tensors out.
"""
from __future__ import annotations

import torch
from torch import Tensor


def lstm_step(gates: Tensor, c: Tensor, activation=torch.tanh, recurrent_activation=torch.sigmoid):
    """One LSTM step: ``gates = x W + h U + b`` (B, 4H) in the order i, f, g, o, and ``c`` (B, H).

    Returns ``(h', c')``, each (B, H): ``c' = s(f) * c + s(i) * a(g)``, ``h' = s(o) * a(c')`` with
    ``s`` = recurrent_activation and ``a`` = activation.
    """
    i, f, g, o = gates.chunk(4, dim=-1)
    s, a = recurrent_activation, activation
    c = s(f) * c + s(i) * a(g)
    return s(o) * a(c), c


def gru_step(xw: Tensor, hw: Tensor, h: Tensor, activation=torch.tanh, recurrent_activation=torch.sigmoid) -> Tensor:
    """One GRU step with the reset gate applied after the recurrent product (Keras's ``reset_after=True``,
    torch's GRU): ``xw = x W + b`` and ``hw = h U + b_h``, each (B, 3H) in the order r, z, n; ``h`` (B, H).

    Returns ``h' = z * h + (1 - z) * a(xw_n + r * hw_n)`` (B, H), with ``r``, ``z`` = s(xw + hw).
    """
    xr, xz, xn = xw.chunk(3, dim=-1)
    hr, hz, hn = hw.chunk(3, dim=-1)
    s = recurrent_activation
    r, z = s(xr + hr), s(xz + hz)
    return z * h + (1 - z) * activation(xn + r * hn)


__all__ = ["gru_step", "lstm_step"]
