"""The fused fast paths of the recurrent layers: one call to torch's LSTM/GRU/RNN kernel.

``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu`` (oneDNN on CPU, cuDNN on GPU) are called
directly with a cell's own parameters as flat weights, ``batch_first=True``, so nothing is copied
or permuted per call (the cells store their weights in torch's layout; see ``cells.py``).

Right-padded masks (``mask[b]`` = the first ``len_b`` steps) stay on the fused kernel, without
packing: the kernel runs over all ``T`` steps and the Keras result is recovered afterwards:

* outputs at ``t >= len_b`` become the output at ``len_b - 1`` (or zeros with
  ``zero_output_for_mask``), and the final ``h`` is gathered at ``len_b - 1``;
* the LSTM's final ``c`` cannot be gathered (the kernel returns only the last one), so the input
  gets one extra feature ``is_pad`` (1.0 at padded steps) whose constant kernel column adds
  ``-1e4`` to the input gate and ``+1e4`` to the forget gate. In float32 ``sigmoid(-1e4) == 0.0``
  and ``sigmoid(1e4) == 1.0`` exactly, so ``c`` is frozen bit for bit at padded steps, and so is
  its gradient (``d sigmoid = s (1 - s) = 0``);
* ``go_backwards`` reverses each sequence within its own length (one gather, as flax's
  ``flip_sequences``), runs forward, and maps the result back to Keras's order;
* where the LSTM's or GRU's native training pass runs (``rnn_train``: a gradient needed, float32
  CPU), it takes the lengths instead of the ``is_pad`` column and skips the padded steps' work
  (states frozen, outputs zeros there), so the cost follows the real lengths.

SimpleRNN inference on CPU (nothing needs a gradient, not under tracing/export) does not call
``rnn_tanh`` / ``rnn_relu``: in float32 it runs the native C++ loop of ``seqlayers/native`` when that
is built (W4: 0.45x plain PyTorch's inference time, within 2e-6 of ``nn.RNN``), else a TorchScript
loop: one matmul for every step's input projection, then per step ``addmm(out=)`` + in-place
activation into a preallocated ``(T, B, H)`` output (-24% CPU time, equal to ``rnn_tanh`` to 1e-6).
See docs/performance.md. The path returned says which ran (``"native"``, ``"scripted"``, or
``"fused"`` for torch's kernel).

These functions take tensors (the flat weights in torch's layout, states, masks) and return
tensors and the path; they never see a layer. ``rnn_kernel.run`` picks among them.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .. import native
from . import rnn_train
from .rnn_masks import gather_steps, reverse_index

#: the fused kernels by name, ``torch._VF``'s signatures: ``rnn_train``'s, which run the native training
#: pass where it applies (float32 CPU, a gradient needed) and torch's kernel otherwise
KERNELS: dict[str, Callable[..., Any]] = {"lstm": rnn_train.lstm, "gru": rnn_train.gru, "rnn_tanh": rnn_train.rnn_tanh,
                                          "rnn_relu": rnn_train.rnn_relu}

_SCRIPTED: list[Any] = []  # the compiled loop, scripted on first use (not at import)
LOOP_KINDS = {"rnn_tanh": False, "rnn_relu": True}  #: SimpleRNN kernel name -> relu? (its native/scripted loop)

PAD_GATE = 1e4  # sigmoid(+-1e4) is exactly 1.0 / 0.0 in float32 (and in float16/bfloat16)


def _rnn_loop(xw: torch.Tensor, w_hh_t: torch.Tensor, h0: torch.Tensor, relu: bool) -> torch.Tensor:
    """``h_t = act(xw_t + h_{t-1} @ w_hh_t)`` written in place into a ``(T, B, H)`` buffer."""
    out = torch.empty_like(xw)  # (T, B, H)
    h = h0
    for t in range(xw.shape[0]):
        torch.addmm(xw[t], h, w_hh_t, out=out[t])
        h = out[t].relu_() if relu else out[t].tanh_()
    return out


def _inference_loop_applies(kind, x, h0, weights) -> bool:
    """SimpleRNN's inference loop (native or scripted): CPU float inference, not while tracing or
    exporting (ONNX sees ``_VF``)."""
    if kind not in LOOP_KINDS or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    if torch.is_grad_enabled() and (x.requires_grad or h0.requires_grad or any(w.requires_grad for w in weights)):
        return False
    return True


def native_loop_applies(kind, x, h0, weights) -> bool:
    """SimpleRNN's inference runs the native C++ loop on these tensors (float32, the library built and
    enabled), not the scripted one or torch's kernel: what ``run_kernel`` decides."""
    return _inference_loop_applies(kind, x, h0, weights) and _native_loop_runs(x)


def _native_loop_runs(x) -> bool:
    return x.dtype == torch.float32 and native.use_native()


def _loop_bias(weights):
    """SimpleRNN's one bias for its inference loops: b_ih + b_hh, or None without biases."""
    return weights[2] + weights[3] if len(weights) == 4 else None


def _native_loop(kind, weights, x, h0, head=(None, None, False)):
    """The native SimpleRNN loop over ``x`` (B, T, F) in processing order: ``(B, T, H)``, or with ``head``
    ``(w (U, H), b (U,) or None, softmax)`` the Dense's ``(B, T, U)`` output computed in the steps."""
    return torch.ops.seqlayers_native.simple_rnn_forward(x, weights[0].t(), weights[1].t(), _loop_bias(weights), h0,
                                                         LOOP_KINDS[kind], native.BLAS_ONLY[0], *head)


def run_with_head(kind, weights, x, h0, go_backwards, time_order, head) -> torch.Tensor:
    """SimpleRNN inference (where ``native_loop_applies``) and the Dense after it, ``head`` = ``(w (U, H),
    b (U,) or None, softmax)``: the Dense's ``(B, T, U)`` output (in processing order, or time order
    when ``time_order``), the ``(B, T, H)`` sequence never made where the hand-written kernel runs."""
    y = _native_loop(kind, weights, x.flip(1) if go_backwards else x, h0, head)
    return y.flip(1) if go_backwards and time_order else y


def _run_inference_loop(kind, x, h0, weights):
    """``rnn_tanh`` / ``rnn_relu`` for inference: ``(out (B, T, H), h_T (B, H), path)``.

    The native C++ loop when it is built (float32, path ``"native"``), else the TorchScript loop
    (``"scripted"``).
    """
    if _native_loop_runs(x):
        out = _native_loop(kind, weights, x, h0)
        return out, out[:, -1], "native"  # (B, T, H) contiguous, final h
    w_ih, w_hh, bias = weights[0], weights[1], _loop_bias(weights)
    if not _SCRIPTED:
        _SCRIPTED.append(torch.jit.script(_rnn_loop))
    B, T, F = x.shape
    x_tb = x.transpose(0, 1).reshape(T * B, F)  # (T*B, F): time-major, each step's rows contiguous
    xw = torch.mm(x_tb, w_ih.t()) if bias is None else torch.addmm(bias, x_tb, w_ih.t())  # every input projection
    out = _SCRIPTED[0](xw.view(T, B, -1), w_hh.t().contiguous(), h0, LOOP_KINDS[kind])  # (T, B, H)
    return out.transpose(0, 1), out[-1], "scripted"  # (B, T, H) view, final h


def pad_column(H: int, like: torch.Tensor, kind: str = "lstm", zero_h: bool = False) -> torch.Tensor:
    """The ``is_pad`` feature's kernel column: ``(4H, 1)`` for an LSTM (gate order i, f, g, o),
    ``(3H, 1)`` for a GRU (gate order r, z, n). ``zero_h`` (LSTM): the output gate -> 0 too, so a
    padded step outputs ``h = 0 * tanh(c) = 0`` (c still frozen)."""
    if kind == "gru":
        col = like.new_zeros(3 * H, 1)
        col[H:2 * H] = PAD_GATE  # update gate -> 1 at padded steps: h' = (1 - z) n + z h = h
        return col
    col = like.new_zeros(4 * H, 1)
    col[:H] = -PAD_GATE  # input gate -> 0 at padded steps
    col[H:2 * H] = PAD_GATE  # forget gate -> 1 at padded steps: c is frozen exactly
    if zero_h:
        col[3 * H:] = -PAD_GATE  # output gate -> 0: h = 0 at padded steps, and no gradient through them
    return col


def run_kernel(kind: str, weights: list, x, states: list, train: bool, pad=None, lengths=None):
    """Run torch's ``kind`` kernel over ``x`` (B, T, F) from ``states``: ``(out, final_states, path)``.

    ``weights``: the flat weights ``[w_ih, w_hh(, b_ih, b_hh)]``. ``pad`` (B, T) bool: for an LSTM,
    freeze ``c`` at padded steps (the ``is_pad`` feature trick). ``lengths`` (B,): the right-padded
    lengths behind ``pad``; where the native LSTM or GRU training pass runs, it skips the padded steps
    instead (states frozen, outputs zeros there; ``pad`` is then not needed). ``path`` is ``"fused"``, or ``"native"`` /
    ``"scripted"`` when SimpleRNN's inference loop ran instead of torch's kernel.
    """
    has_bias = len(weights) == 4
    if _inference_loop_applies(kind, x, states[0], weights):
        out, h, path = _run_inference_loop(kind, x, states[0], weights)
        return out, [h], path
    # (1, B, H) each; zero LSTM states: one tensor serves as h0 and c0
    hx = [states[0][None].contiguous()]
    if kind == "lstm":
        hx.append(hx[0] if states[1] is states[0] else states[1][None].contiguous())
    if lengths is not None and rnn_train.right_padded_applies(kind, x, hx, weights):
        out, *final = rnn_train.right_padded(kind, x, hx, weights, has_bias, False, lengths)
        return out, [s[0] for s in final], "fused"
    if kind == "lstm":
        if pad is not None:
            x = torch.cat([x, pad[..., None].to(x.dtype)], dim=-1)  # (B, T, F + 1): is_pad feature
            column = pad_column(states[0].shape[-1], weights[0])
            weights = [torch.cat([weights[0], column], dim=1)] + list(weights[1:])
        out, h, c = KERNELS[kind](x, tuple(hx), weights, has_bias, 1, 0.0, train, False, True)
        return out, [h[0], c[0]], "fused"
    out, h = KERNELS[kind](x, hx[0], weights, has_bias, 1, 0.0, train, False, True)
    return out, [h[0]], "fused"


def run_bidirectional(kind: str, weights: list, x, states: list, train: bool):
    """Both directions in ONE bidirectional kernel call: ``(out (B, T, 2H), final_states)``.

    ``weights``: the forward direction's flat weights then the backward one's; ``states``: each
    ``(2, B, H)`` (forward, backward). The output is in time order, ``[forward, backward]`` on the
    last axis; each final state is ``(2, B, H)``.
    """
    hx = tuple(states) if len(states) == 2 else states[0]
    out, *final = KERNELS[kind](x, hx, weights, len(weights) == 8, 1, 0.0, train, True, True)
    return out, final


def last_valid_step(lengths):
    """``(last_step (B,), empty (B, 1))``: each row's last valid step (0 for an empty row) and which rows
    are fully masked (they keep their initial state)."""
    return (lengths - 1).clamp(min=0), (lengths == 0)[:, None]


def output_at(out, last_step):
    """``out[b, last_step[b]]`` (B, H) for ``out`` (B, T, H): each row's output at its last valid step."""
    B, _, H = out.shape
    return out.gather(1, last_step[:, None, None].expand(B, 1, H))[:, 0]


def run_bidirectional_padded(kind, weights, x, states, train, mask, lengths, zero_output, need_seq=True,
                             need_ends=True):
    """Both directions of a right-padded batch in ONE bidirectional kernel call, Keras's exact result.

    ``kind`` "lstm" or "gru"; ``weights`` the forward then the backward flat weights; ``states``
    each ``(2, B, H)`` (forward, backward), the backward ones ZERO. The input gets the ``is_pad``
    feature, whose kernel column (``pad_column``) makes a padded step keep the states exactly (LSTM:
    input gate 0, forget gate 1; GRU: update gate 1), in both directions. Running backwards from the
    end of the padding, the backward direction keeps its zero states through the padding (``c = 0``,
    ``h = o tanh(0) = 0``; GRU ``h = 0``) and reaches each row's last valid step exactly as if it
    had started there, as Keras's reversal within the lengths does; its padded outputs are zeros, and
    no gradient flows through them (every gate's derivative is 0 there). The forward direction's
    padded outputs are zeros (``zero_output``; an LSTM's output gate is held at 0 there too, so the
    kernel writes them) or the output at ``len_b - 1``.
    Returns ``(joint (B, T, 2H) in time order or None without need_seq, (forward last, backward
    last), forward final states, backward final states)``; without ``need_ends`` the last outputs are
    None and the final states empty (nothing computed for them).
    """
    T = x.shape[1]
    H = weights[1].shape[1]
    pad = ~mask  # (B, T)
    zero_h = kind == "lstm" and zero_output  # padded outputs come out of the kernel as zeros already
    native = rnn_train.right_padded_applies(kind, x, states, weights)
    if native:  # the native training pass skips the padded steps (states frozen, outputs zeros there)
        out, *final = rnn_train.right_padded(kind, x, states, weights, len(weights) == 8, True, lengths)
    else:
        x = torch.cat([x, pad[..., None].to(x.dtype)], dim=-1)  # (B, T, F + 1): the is_pad feature
        n = len(weights) // 2
        column = pad_column(H, weights[0], kind, zero_h)
        weights = ([torch.cat([weights[0], column], dim=1)] + list(weights[1:n])
                   + [torch.cat([weights[n], column], dim=1)] + list(weights[n + 1:]))
        out, final = run_bidirectional(kind, weights, x, states, train)  # out (B, T, 2H), final each (2, B, H)
    last_step = empty = None
    if not need_seq:
        joint = None
    elif zero_h or (native and zero_output):  # the kernel wrote the padded outputs' zeros itself
        joint = out
    elif zero_output:  # GRU: the forward half keeps its frozen h at padded steps; the backward half is zeros
        joint = out.masked_fill(pad[..., None], 0.0)
    else:  # the forward half repeats its output at len_b - 1; the backward half is zeros (time order)
        last_step, empty = last_valid_step(lengths)
        steps = torch.arange(T, device=x.device)[None, :]  # (1, T)
        fwd = gather_steps(out[..., :H], torch.minimum(steps, last_step[:, None]), zero=empty)
        joint = torch.cat([fwd, out[..., H:]], dim=-1)
    if not need_ends:
        return joint, (None, None), [], []
    if last_step is None:
        last_step, empty = last_valid_step(lengths)
    h_last = output_at(out[..., :H], last_step)  # (B, H): forward at len_b - 1
    zero = h_last.new_zeros(())
    fwd_final = [torch.where(empty, states[0][0], h_last)] + [s[0] for s in final[1:]]
    bwd_final = [s[1] for s in final]  # after step 0: zeros for an empty row, as Keras keeps them
    fwd_last = torch.where(mask[:, -1:], h_last, zero) if zero_output else torch.where(empty, zero, h_last)
    return joint, (fwd_last, final[0][1]), fwd_final, bwd_final


def run_dense(kind, weights, x, states, train, go_backwards, time_order):
    """No mask: one kernel call. Returns ``(sequence, last_output, final_states, path)``.

    The sequence is in processing order (reversed for ``go_backwards``, as Keras returns it), or
    in time order when ``time_order`` (what ``Bidirectional`` wants).
    """
    xs = x.flip(1) if go_backwards else x  # (B, T, F), processing order
    out, final, path = run_kernel(kind, weights, xs, states, train)
    seq = out.flip(1) if (go_backwards and time_order) else out
    return seq, final[0], final, path


def run_right_padded(kind, weights, x, states, train, mask, lengths, go_backwards, zero_output, time_order,
                     need_seq, need_states=True):
    """Right-padded mask on the fused kernel, recovered to Keras's exact result.

    Keras's semantics (processing order = reversed input for ``go_backwards``): a masked step keeps
    the states and outputs the previous output (zeros before the first valid step), or zeros with
    ``zero_output_for_mask``; the last output is the output of the last processed step.
    Returns ``(sequence or None, last_output, final_states, path)``.
    """
    B, T, _ = x.shape
    idx = None
    if go_backwards:
        idx = reverse_index(lengths, T)  # (B, T): each sequence reversed within its length
        x = gather_steps(x, idx)
    # the is_pad column only keeps the LSTM's final c exact; skip it when nobody reads the states
    # (no return_state, not stateful): valid steps never see the padding that follows them
    out, final, path = run_kernel(kind, weights, x, states, train, pad=~mask if need_states else None,
                                  lengths=lengths)
    last_step, empty = last_valid_step(lengths)  # (B,), (B, 1)
    h_last = output_at(out, last_step)  # (B, H): output at len_b - 1
    final = [torch.where(empty, states[0], h_last)] + final[1:]
    zero = h_last.new_zeros(())
    h_valid = torch.where(empty, zero, h_last)  # Keras's output after the last valid step
    if go_backwards or not zero_output:
        last = h_valid  # backwards, the last processed step is t = 0, valid whenever len_b > 0
    else:
        last = torch.where(mask[:, -1:], h_last, zero)  # zero_output_for_mask: zero if step T-1 is padding
    if not need_seq:
        return None, last, final, path
    # every sequence output is one row gather from the kernel's output (zeros where Keras has zeros):
    # several times cheaper than torch.where over (B, T, H), and it reads the time-major storage as is
    steps = torch.arange(T, device=x.device)[None, :]  # (1, T)
    if not go_backwards:
        if zero_output:
            seq = gather_steps(out, steps.expand(B, T), zero=~mask)
        else:  # padding repeats the output at len_b - 1 (zeros for an empty sequence)
            seq = gather_steps(out, torch.minimum(steps, last_step[:, None]), zero=empty)
    elif time_order:
        seq = gather_steps(out, idx, zero=~mask)  # back into time order; padding -> zeros
    else:
        # Keras's reversed order: the padding comes first (zeros), then the run's valid steps
        shift = (steps - (T - lengths)[:, None]).clamp(min=0)  # (B, T)
        seq = gather_steps(out, shift, zero=~mask.flip(1))
    return seq, last, final, path
