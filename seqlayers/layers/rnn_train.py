"""LSTM, GRU and SimpleRNN training on CPU through the native C++ forward/backward
(``seqlayers/native/rnn_train.cpp``).

``lstm``, ``gru``, ``rnn_tanh`` and ``rnn_relu`` have ``torch._VF``'s signatures and results;
``rnn_fused`` calls them wherever it would call torch's kernels, so the masked tricks (the ``is_pad``
column, the padded gathers) run on them unchanged. When a gradient is needed, on float32 CPU tensors,
with the native library built, they run ``NativeLSTM`` / ``NativeGRU`` / ``NativeRNN``: a forward pass keeping the
gates (and the LSTM's cells, the states each step started from), and backpropagation through time
with every weight gradient as one GEMM over all steps (torch's oneDNN LSTM took 2-3x the products'
time in training on CPU, and its GRU and SimpleRNN run step by step through autograd; see
docs/performance.md).
The GRU is torch's and Keras 3's default ``reset_after`` form (``n = tanh(x W_n + b_in + r (h U_n +
b_hn))``).
Otherwise (no gradient, another dtype or device, several layers, dropout, under ``torch.compile``,
tracing, export, autocast, ``torch.func`` transforms, fake tensors or forward-mode AD) torch's kernel
runs.

The gates use the vectorised rational tanh/sigmoid of ``loop_math.h`` (max abs error 2.9e-7 /
1.8e-7 against float64), so outputs and gradients agree with torch's kernel to ~1e-6 relative.
A gradient of the gradient (``create_graph=True``, as a gradient penalty takes) is exact: the
backward pass then differentiates torch's own kernel over the same inputs (for the LSTM on a
right-padded batch, ``lstm_right_padded``, a step-by-step torch reference of its semantics), so it
can be differentiated again.
"""
from __future__ import annotations

import torch
from torch.autograd import forward_ad

from .. import native

#: G*H x (F + H) weights (G gates: LSTM 4, GRU 3, SimpleRNN 1) up to these run natively; forward +
#: backward, native / torch's kernel, B=16, T=100, F=8 (measured; docs/performance.md):
#: LSTM (torch: oneDNN) H=32 0.62x, 256 0.77x, 384 0.73x, 512 0.87x, 1024 1.08x -> up to H = 512;
#: GRU (torch: step by step) H=32 0.11x, 512 0.50x, 1024 0.60x -> up to H = 1024;
#: SimpleRNN (torch: step by step) H=512 0.47x, 1024 0.60x, 2048 0.44x -> up to H = 2048 (F up to 64 each)
MAX_WEIGHTS = {4: 4 * 512 * 576, 3: 3 * 1024 * 1088, 1: 2048 * 2112}


class NativeLSTM(torch.autograd.Function):
    """One LSTM layer (one or both directions) with the native forward and backward passes.

    ``apply(x, h0, c0, lengths, bidirectional, has_bias, *weights)``: x ``(B, T, F)``; h0, c0 ``(D, B,
    H)``; weights torch's flat weights (``[w_ih, w_hh(, b_ih, b_hh)]`` per direction). Returns
    ``(out (B, T, D*H), h_n (D, B, H), c_n (D, B, H))``, as ``torch._VF.lstm`` with ``batch_first``.
    ``lengths`` ``(B,)`` int64 or None: a right-padded batch, row ``b`` valid for its first
    ``lengths[b]`` steps; a padded step does no work, keeps both states and outputs zeros (the
    backward direction of a bidirectional call starts at each row's last valid step), so the final
    states are those after each row's last valid step.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, lengths, bidirectional, has_bias, *weights):
        out, h_n, c_n, *saved = torch.ops.seqlayers_native.lstm_train_forward(
            x, *_weight_lists(weights, has_bias), h0, c0, _backwards(bidirectional), lengths)
        _keep(ctx, (x, h0, c0, *saved, *weights), bidirectional, has_bias)
        ctx.lengths = lengths
        ctx.repeated = x.shape[1] > 1 and x.stride(1) == 0  # RepeatVector's view: the same input every step
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, grad_out, grad_h, grad_c):
        x, h0, c0, acts, cs, tcs, xh, *weights = ctx.saved_tensors
        # torch's kernel for a right-padded batch: the masked step loop
        kernel = torch._VF.lstm if ctx.lengths is None else _masked_reference("lstm", ctx.lengths)
        return _backward(ctx, (grad_out, grad_h, grad_c), x, [h0, c0], weights, kernel,
                         lambda w_ih, w_hh: torch.ops.seqlayers_native.lstm_train_backward(
                             grad_out, grad_h, grad_c, w_ih, w_hh, c0, acts, cs, tcs, xh, _backwards(ctx.bidirectional),
                             ctx.needs_input_grad[0], ctx.repeated, ctx.lengths))


class NativeGRU(torch.autograd.Function):
    """One GRU layer (one or both directions) with the native forward and backward passes.

    ``apply(x, h0, lengths, bidirectional, has_bias, *weights)``: x ``(B, T, F)``; h0 ``(D, B, H)``;
    weights torch's flat weights; ``lengths`` as for ``NativeLSTM`` (None: no padding). Returns
    ``(out (B, T, D*H), h_n (D, B, H))``, as ``torch._VF.gru`` with ``batch_first``.
    """

    @staticmethod
    def forward(ctx, x, h0, lengths, bidirectional, has_bias, *weights):
        out, h_n, *saved = torch.ops.seqlayers_native.gru_train_forward(
            x, *_weight_lists(weights, has_bias), h0, _backwards(bidirectional), lengths)
        _keep(ctx, (x, h0, *saved, *weights), bidirectional, has_bias)
        ctx.lengths = lengths
        return out, h_n

    @staticmethod
    def backward(ctx, grad_out, grad_h):
        x, h0, x2, acts, hn, hp, *weights = ctx.saved_tensors
        kernel = torch._VF.gru if ctx.lengths is None else _masked_reference("gru", ctx.lengths)
        return _backward(ctx, (grad_out, grad_h), x, [h0], weights, kernel,
                         lambda w_ih, w_hh: torch.ops.seqlayers_native.gru_train_backward(
                             grad_out, grad_h, w_ih, w_hh, x2, acts, hn, hp, _backwards(ctx.bidirectional),
                             ctx.needs_input_grad[0], ctx.lengths))


class NativeRNN(torch.autograd.Function):
    """One SimpleRNN layer (one or both directions, tanh or relu) with the native forward and backward.

    ``apply(x, h0, bidirectional, has_bias, relu, *weights)``: as ``NativeGRU``; returns
    ``(out (B, T, D*H), h_n (D, B, H))``, as ``torch._VF.rnn_tanh`` / ``rnn_relu`` with ``batch_first``.
    """

    @staticmethod
    def forward(ctx, x, h0, bidirectional, has_bias, relu, *weights):
        out, h_n, *saved = torch.ops.seqlayers_native.simple_rnn_train_forward(
            x, *_weight_lists(weights, has_bias), h0, _backwards(bidirectional), relu)
        _keep(ctx, (x, h0, *saved, *weights), bidirectional, has_bias)
        ctx.relu = relu
        return out, h_n

    @staticmethod
    def backward(ctx, grad_out, grad_h):
        x, h0, x2, ys, hp, *weights = ctx.saved_tensors
        kernel = torch._VF.rnn_relu if ctx.relu else torch._VF.rnn_tanh
        return _backward(ctx, (grad_out, grad_h), x, [h0], weights, kernel,
                         lambda w_ih, w_hh: torch.ops.seqlayers_native.simple_rnn_train_backward(
                             grad_out, grad_h, w_ih, w_hh, x2, ys, hp, _backwards(ctx.bidirectional), ctx.relu,
                             ctx.needs_input_grad[0]))


def _per_direction(weights, has_bias):
    n = 4 if has_bias else 2
    return [list(weights[i:i + n]) + [None] * (4 - n) for i in range(0, len(weights), n)]


def _weight_lists(weights, has_bias):
    """torch's flat weights as the native ops take them: the lists over directions of w_ih, w_hh, b_ih,
    b_hh (the biases None without ``has_bias``)."""
    return [list(ws) for ws in zip(*_per_direction(weights, has_bias))]


def _backwards(bidirectional):
    """The native ops' ``backwards``: per direction, whether it runs from the last step."""
    return [False, True] if bidirectional else [False]


def _keep(ctx, saved, bidirectional, has_bias):
    """The forward's bookkeeping shared by the three Functions (each adds its own flags)."""
    ctx.save_for_backward(*saved)
    ctx.bidirectional, ctx.has_bias = bidirectional, has_bias
    ctx.consumed = False  # the native backward overwrites the saved gates: it runs once
    ctx.set_materialize_grads(False)  # an unused output's gradient stays None (no zeros are made)


def _backward(ctx, grads, x, states, weights, kernel, native_backward):
    """The three Functions' backward: through torch's ``kernel`` (``_VF``'s signature) where
    ``_torchs_backward`` says so, else ``native_backward(w_ih, w_hh)`` (the native op on the lists over
    directions; it returns dx, the states' gradients, then the weights'), which consumes the saved gates."""
    if _torchs_backward(ctx, grads):
        return _differentiable_backward(kernel, ctx, grads, x, states, weights, extra=1)
    ctx.consumed = True
    w_ih, w_hh, _, _ = _weight_lists(weights, ctx.has_bias)
    out = native_backward(w_ih, w_hh)
    n_lead = 1 + len(states)
    return _native_grads(ctx, tuple(out[:n_lead]), list(out[n_lead:]))


def _native_grads(ctx, leading, dw):
    """A native backward's results laid out as the Function's backward returns them: ``leading`` (dx
    and the states' gradients), None for the three non-tensor arguments after them, then torch's flat
    weight gradients. ``dw`` per direction: dw_ih, dw_hh, then one db (LSTM, SimpleRNN: b_ih's and
    b_hh's gradient alike) or db_ih, db_hh (GRU: r scales b_hn); None where no gradient is needed."""
    step = len(dw) // (2 if ctx.bidirectional else 1)
    grads = []
    for d in range(0, len(dw), step):
        dw_ih, dw_hh, *db = dw[d:d + step]
        grads += [dw_ih, dw_hh, *(db * 2 if len(db) == 1 else db)] if ctx.has_bias else [dw_ih, dw_hh]
    needs = ctx.needs_input_grad
    n_lead = len(leading)
    return (*[g if need else None for g, need in zip(leading, needs)], None, None, None,
            *[g if need else None for g, need in zip(grads, needs[n_lead + 3:])])


def _torchs_backward(ctx, grads) -> bool:
    """Whether a backward runs through torch's kernel (``_differentiable_backward``): under
    create_graph (a backward that can itself be differentiated), a second backward through the same
    graph (retain_graph; the native one consumed the saved gates), or vmapped (``is_grads_batched``,
    ``jacobian(vectorize=True)``: the native ops have no batching rule)."""
    if torch.is_grad_enabled() or ctx.consumed or torch._C._are_functorch_transforms_active():
        return True
    return any(g is not None and torch._C._functorch.is_legacy_batchedtensor(g) for g in grads)


def _masked_reference(kind, lengths):
    """The native passes' right-padded semantics with torch ops, step by step (differentiable to any
    order), for ``kind`` "lstm" or "gru": the reference their create_graph / second-backward fallback
    differentiates. ``torch._VF.lstm`` / ``gru``'s signature."""
    def kernel(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first):
        T = x.shape[1]
        valid = torch.arange(T, device=x.device)[None, :] < lengths[:, None].to(x.device)  # (B, T)
        starts = list(hx) if kind == "lstm" else [hx]
        outs, finals = [], []
        for d, w in enumerate(_per_direction(weights, has_bias)):
            state = [s[d] for s in starts]
            seq = [None] * T
            for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
                new = (list(torch._VF.lstm_cell(x[:, t], tuple(state), w[0], w[1], w[2], w[3])) if kind == "lstm"
                       else [torch._VF.gru_cell(x[:, t], state[0], w[0], w[1], w[2], w[3])])
                m = valid[:, t:t + 1]
                state = [torch.where(m, a, b) for a, b in zip(new, state)]
                seq[t] = torch.where(m, new[0], torch.zeros_like(new[0]))
            outs.append(torch.stack(seq, 1) if T else x.new_zeros(x.shape[0], 0, state[0].shape[-1]))
            finals.append(state)
        return (torch.cat(outs, -1), *[torch.stack([f[i] for f in finals]) for i in range(len(starts))])
    return kernel


def _differentiable_backward(kernel, ctx, grads, x, states, weights, extra=0):
    """The gradients through torch's ``kernel`` (``_VF.lstm`` / ``_VF.gru``), recomputed on the saved
    inputs (with a graph under ``create_graph``), laid out as the Function's backward returns them."""
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        # one alias per position: a tensor passed twice (one as h0 and c0, tied weights) must get each
        # position's gradient, not their sum in both (autograd.grad w.r.t. the same tensor twice)
        inputs = [t.view_as(t) for t in (x, *states, *weights)]
        states, weights = inputs[1:1 + len(states)], inputs[1 + len(states):]
        hx = tuple(states) if len(states) == 2 else states[0]
        outs = kernel(inputs[0], hx, weights, ctx.has_bias, 1, 0.0, True, ctx.bidirectional, True)
    n_lead = 1 + len(states)  # x and the states; then bidirectional, has_bias and `extra` flags (no gradient)
    n_flags = 2 + extra
    needs = ctx.needs_input_grad[:n_lead] + ctx.needs_input_grad[n_lead + n_flags:]
    wanted = [i for i, need in enumerate(needs) if need]
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
    found = torch.autograd.grad([o for o, _ in pairs], [inputs[i] for i in wanted], [g for _, g in pairs],
                                create_graph=create_graph, allow_unused=True)
    full = [None] * len(inputs)
    for i, g in zip(wanted, found):
        full[i] = g
    return (*full[:n_lead], *[None] * n_flags, *full[n_lead:])


def applies(x, hx, weights, num_layers, dropout, batch_first, gates=4) -> bool:
    """True when the native training pass may run this call: it needs a gradient, float32 CPU, one
    layer, no dropout, batch-first, the native library built, nothing tracing, compiling or
    transforming it, no forward-mode AD; ``hx`` the initial states (a list), ``gates`` 4 (LSTM), 3 (GRU)
    or 1 (SimpleRNN)."""
    if not torch.is_grad_enabled() or num_layers != 1 or dropout != 0.0 or not batch_first:
        return False
    tensors = [x, *hx, *weights]
    if not any(t.requires_grad for t in tensors):
        return False
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors) or x.dim() != 3:
        return False
    if any(torch._C._dispatch_keys(t).has(torch._C.DispatchKey.Python) for t in tensors):
        return False  # fake (make_fx's "fake" tracing, FakeTensorMode) or other dispatch subclasses: no native kernel
    w_ih, w_hh = weights[0], weights[1]
    H = w_hh.shape[1]
    if gates * H * (w_ih.shape[1] + H) > MAX_WEIGHTS[gates]:
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    if torch._C._are_functorch_transforms_active() or torch.is_autocast_enabled("cpu"):
        return False
    if forward_ad._current_level >= 0:  # inside forward_ad.dual_level(): the Functions have no jvp
        return False
    return native.use_native()


def lstm(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first):
    """``torch._VF.lstm(x, (h0, c0), weights, has_bias, num_layers, dropout, train, bidirectional,
    batch_first)``: the native training pass where ``applies``, else torch's kernel."""
    if applies(x, hx, weights, num_layers, dropout, batch_first):
        return NativeLSTM.apply(x, hx[0], hx[1], None, bidirectional, has_bias, *weights)
    return torch._VF.lstm(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first)


def lstm_right_padded(x, hx, weights, has_bias, bidirectional, lengths):
    """One LSTM layer over a right-padded batch (``lengths`` (B,) int64), padded steps skipped: the
    native pass of ``NativeLSTM`` with ``lengths``; ``(out, h_n, c_n)``. Only where ``applies``."""
    return NativeLSTM.apply(x, hx[0], hx[1], lengths.to(torch.int64).cpu(), bidirectional, has_bias, *weights)


def gru_right_padded(x, hx, weights, has_bias, bidirectional, lengths):
    """One GRU layer over a right-padded batch (``lengths`` (B,) int64), padded steps skipped: the
    native pass of ``NativeGRU`` with ``lengths``; ``(out, h_n)``. Only where ``applies``."""
    return NativeGRU.apply(x, hx, lengths.to(torch.int64).cpu(), bidirectional, has_bias, *weights)


PADDED_GATES = {"lstm": 4, "gru": 3}  #: the kernels whose native pass takes a right-padded batch's lengths


def right_padded_applies(kind, x, hx, weights) -> bool:
    """Whether ``right_padded`` may run ``kind`` ("lstm", "gru", ...) over ``x`` from the states ``hx``."""
    return kind in PADDED_GATES and applies(x, hx, weights, 1, 0.0, True, gates=PADDED_GATES[kind])


def right_padded(kind, x, hx, weights, has_bias, bidirectional, lengths):
    """One LSTM or GRU layer over a right-padded batch, padded steps skipped (``lstm_right_padded`` /
    ``gru_right_padded``); ``hx`` the states, each ``(D, B, H)``. Returns ``[out, h_n(, c_n)]``."""
    if kind == "lstm":
        return list(lstm_right_padded(x, tuple(hx), weights, has_bias, bidirectional, lengths))
    return list(gru_right_padded(x, hx[0], weights, has_bias, bidirectional, lengths))


def gru(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first):
    """``torch._VF.gru(x, h0, weights, has_bias, num_layers, dropout, train, bidirectional,
    batch_first)``: the native training pass where ``applies``, else torch's kernel."""
    if applies(x, [hx], weights, num_layers, dropout, batch_first, gates=3):
        return NativeGRU.apply(x, hx, None, bidirectional, has_bias, *weights)
    return torch._VF.gru(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first)


def rnn_tanh(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first):
    """``torch._VF.rnn_tanh(...)``: the native training pass where ``applies``, else torch's kernel."""
    if applies(x, [hx], weights, num_layers, dropout, batch_first, gates=1):
        return NativeRNN.apply(x, hx, bidirectional, has_bias, False, *weights)
    return torch._VF.rnn_tanh(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first)


def rnn_relu(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first):
    """``torch._VF.rnn_relu(...)``: the native training pass where ``applies``, else torch's kernel."""
    if applies(x, [hx], weights, num_layers, dropout, batch_first, gates=1):
        return NativeRNN.apply(x, hx, bidirectional, has_bias, True, *weights)
    return torch._VF.rnn_relu(x, hx, weights, has_bias, num_layers, dropout, train, bidirectional, batch_first)


__all__ = ["MAX_WEIGHTS", "NativeGRU", "NativeLSTM", "NativeRNN", "applies", "gru", "gru_right_padded",
           "lstm", "lstm_right_padded", "rnn_relu", "rnn_tanh"]
