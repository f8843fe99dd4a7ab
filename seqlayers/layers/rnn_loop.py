"""The exact step loop of the recurrent layers (Keras's ``backend.rnn``), for what no fused kernel computes.

Any cell, any mask (not only right-padded ones), recurrent dropout: ``x @ W + b`` for all steps is one
matmul (``project``) and only the recurrence (``recur``) is looped. A masked step keeps the states and
repeats the previous output (zeros before the first valid step), or outputs zeros with
``zero_output_for_mask``. Tensors and two functions in, tensors out; no layer.
"""
from __future__ import annotations

import torch


def run_loop(x, states, project, recur, *, mask=None, dropout=(None, None), go_backwards=False,
             zero_output=False, return_sequences=True, time_order=False):
    """Run ``recur`` over the steps of ``x`` (B, T, F): ``(sequence or None, last_output, final_states)``.

    ``project(x, input_dropout_mask) -> (B, T, G*H)``; ``recur(xw_t, states, recurrent_dropout_mask)
    -> (output, new_states)``. The sequence is in processing order (reversed for ``go_backwards``, as
    Keras returns it), or in time order when ``time_order``.
    """
    T = x.shape[1]
    if go_backwards:
        x = x.flip(1)  # processing order: last step first
        mask = None if mask is None else mask.flip(1)
    in_mask, rec_mask = dropout
    # the input half of every step at once, (B, T, G*H), as T views (B, G*H): unbind's backward stacks the T
    # step gradients once, where xw[:, t]'s would write each into a zero (B, T, G*H) tensor and sum T of them
    xw = project(x, in_mask).unbind(1)
    outputs, prev = [], None
    out = None
    for t in range(T):
        out, new = recur(xw[t], states, rec_mask)
        if mask is not None:
            m = mask[:, t, None]  # (B, 1)
            if prev is None:
                prev = torch.zeros_like(out)
            out = torch.where(m, out, torch.zeros_like(out) if zero_output else prev)
            new = [torch.where(m, n, s) for n, s in zip(new, states)]
            prev = out
        states = new
        if return_sequences:
            outputs.append(out)
    seq = None
    if return_sequences:
        seq = torch.stack(outputs, dim=1)  # (B, T, H)
        if go_backwards and time_order:
            seq = seq.flip(1)
    return seq, out, states
