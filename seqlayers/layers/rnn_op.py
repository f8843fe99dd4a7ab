"""One direction of a fused-kind recurrence as a ``torch.library`` custom op, for ``torch.export``.

``torch.export`` traces Python: the step loop unrolls to the example's length, and torch's own
LSTM/GRU/RNN kernels (``torch._VF``, as ``nn.LSTM``) specialise the time axis in torch 2.13, so an
exported recurrent model would only run at the example's ``T``. Under export, ``rnn_kernel.run``
calls ``seqlayers::recurrence`` instead: one opaque node per direction whose shape function
(``register_fake``) says ``(B, T, F) -> (B, T, H)`` for any ``B`` and ``T``. When the exported
program runs, the op's body is the eager kernel: torch's fused kernel without a mask or with a
right-padded one (``rnn_fused``), the exact step loop written on the flat weights for any other
mask (``rnn_loop``), so a mask is not assumed right-padded. It is what an eager call computes.

Only cells a torch kernel computes exactly (``CellSpec.fused``) and calls without a recurrent
dropout mask go through the op (an exported model is in inference mode); other cells run the step
loop, which unrolls to the example's ``T``. Its backward recomputes the direction with autograd on
and differentiates that (as activation checkpointing), so gradients flow through an exported
program too (e.g. fine-tuning ``program.module()``), at the cost of a second forward pass.

Tensors in, tensors out; imports point down (rnn_op -> rnn_fused, rnn_loop, rnn_masks, rnn_steps).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .rnn_fused import run_dense, run_right_padded
from .rnn_loop import run_loop
from .rnn_masks import right_padding
from .rnn_steps import gru_step, lstm_step

#: kernel name -> how many states (h, or h and c)
N_STATES = {"lstm": 2, "gru": 1, "rnn_tanh": 1, "rnn_relu": 1}


def _step_fns(kind: str, weights: list):
    """``project`` / ``recur`` of torch's ``kind`` cell on its flat weights (the loop's two halves)."""
    w_ih, w_hh = weights[0], weights[1]
    b_ih, b_hh = (weights[2], weights[3]) if len(weights) == 4 else (None, None)

    def project(x, in_mask):  # (B, T, F) -> (B, T, G*H)
        return F.linear(x, w_ih, b_ih)

    def recur(xw, states, rec_mask):  # xw (B, G*H), states each (B, H)
        hw = F.linear(states[0], w_hh, b_hh)  # (B, G*H)
        if kind == "lstm":
            h, c = lstm_step(xw + hw, states[1])
            return h, [h, c]
        if kind == "gru":  # torch's GRU (Keras's reset_after=True): the reset gate scales h @ W_hn + b_hn
            h = gru_step(xw, hw, states[0])
            return h, [h]
        h = torch.relu(xw + hw) if kind == "rnn_relu" else torch.tanh(xw + hw)
        return h, [h]

    return project, recur


def _fresh(tensors: list) -> list:
    """Outputs of a custom op are contiguous (as the fake ones) and alias neither its inputs nor each other."""
    return [t if i == 0 and t._base is None and t.is_contiguous() else t.clone(memory_format=torch.contiguous_format)
            for i, t in enumerate(tensors)]


def _body(x: Tensor, mask: Optional[Tensor], states: list[Tensor], weights: list[Tensor], kind: str,
          go_backwards: bool, zero_output: bool, time_order: bool, need_seq: bool) -> list[Tensor]:
    """``[sequence, last_output, *final_states]`` of one direction over ``x`` (B, T, F).

    ``sequence`` is ``(B, T, H)`` (``(B, 0, H)`` without ``need_seq``); ``mask`` None or ``(B, T)``
    bool; ``kind`` one of ``N_STATES``. Keras's masking semantics, as ``rnn_kernel.run``.
    """
    lengths, padding = (None, "full") if mask is None else right_padding(mask)
    if padding == "full":
        seq, last, final, _ = run_dense(kind, weights, x, states, False, go_backwards, time_order)
    elif padding == "right":
        seq, last, final, _ = run_right_padded(kind, weights, x, states, False, mask, lengths, go_backwards,
                                               zero_output, time_order, need_seq)
    else:
        project, recur = _step_fns(kind, weights)
        seq, last, final = run_loop(x, list(states), project, recur, mask=mask, go_backwards=go_backwards,
                                    zero_output=zero_output, return_sequences=need_seq, time_order=time_order)
    if not need_seq or seq is None:
        seq = x.new_empty(x.shape[0], 0, weights[1].shape[1])
    return _fresh([seq, last, *final])


recurrence = torch.library.custom_op("seqlayers::recurrence", _body, mutates_args=())


@recurrence.register_fake
def _(x, mask, states, weights, kind, go_backwards, zero_output, time_order, need_seq):
    B, T, _ = x.shape
    H = weights[1].shape[1]
    seq = x.new_empty(B, T if need_seq else 0, H)  # (B, T, H)
    return [seq, x.new_empty(B, H)] + [x.new_empty(B, H) for _ in range(N_STATES[kind])]


def _setup_context(ctx, inputs, output):
    x, mask, states, weights, *flags = inputs
    ctx.save_for_backward(x, *states, *weights)
    ctx.mask, ctx.n_states, ctx.flags = mask, len(states), flags


def _backward(ctx, grads):
    """Recompute the direction with autograd on (as activation checkpointing) and differentiate it."""
    x, *rest = ctx.saved_tensors
    states, weights = rest[:ctx.n_states], rest[ctx.n_states:]
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in (x, *states, *weights)]
        outs = _body(leaves[0], ctx.mask, leaves[1:1 + ctx.n_states], leaves[1 + ctx.n_states:], *ctx.flags)
        used = [(o, g) for o, g in zip(outs, grads) if g is not None and o.numel()]
        got = torch.autograd.grad([o for o, _ in used], leaves, [g for _, g in used], allow_unused=True) \
            if used else [None] * len(leaves)
    return got[0], None, list(got[1:1 + ctx.n_states]), list(got[1 + ctx.n_states:]), None, None, None, None, None


recurrence.register_autograd(_backward, setup_context=_setup_context)


def run_op(x, kind, weights, states, mask, go_backwards, zero_output, time_order, need_seq):
    """``(sequence or None, last, final_states)`` from one ``seqlayers::recurrence`` call."""
    seq, last, *final = recurrence(x, mask, list(states), list(weights), kind, go_backwards, zero_output,
                                   time_order, need_seq)
    return (seq if need_seq else None), last, final


__all__ = ["N_STATES", "recurrence", "run_op"]
