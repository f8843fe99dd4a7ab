"""W4 investigation: prototype SimpleRNN (tanh) kernels on CPU, measured against torch's own.

W4 is ``SimpleRNN(200)`` over T=700 steps of a batch of 16: tiny matmuls (16x200 @ 200x200) in a long
sequential chain, so the per-step overhead (dispatcher, autograd nodes, Python) rather than
arithmetic decides the time. Candidates, all computing ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1}
W_hh^T + b_hh)`` with ``(B, T, F)`` input and ``(B, T, H)`` output:

    vf        ``torch._VF.rnn_tanh`` (what ``nn.RNN`` and seqlayers' fused SimpleRNN call)
    hoisted   one matmul for every step's input projection, then per step ``addmm`` + in-place
              ``tanh`` written into a preallocated output (2 ops per step, Python loop)
    script    ``hoisted`` under ``torch.jit.script`` (the loop runs in the TorchScript interpreter)

Run: ``python -m benchmarks.kernels [--steps 20] [--threads 1]``; prints a table and checks that
each candidate matches ``vf`` (inference output and gradients).
"""
from __future__ import annotations

import argparse

import torch

from .timing import measure, summarize


def vf(x, w_ih, w_hh, b_ih, b_hh, h0):
    out, _ = torch._VF.rnn_tanh(x, h0[None], [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    return out


def hoisted(x, w_ih, w_hh, b_ih, b_hh, h0):
    B, T, F = x.shape
    H = w_hh.shape[0]
    xw = torch.addmm(b_ih + b_hh, x.reshape(B * T, F), w_ih.t()).reshape(B, T, H)  # all input projections
    xw = xw.transpose(0, 1).contiguous()  # (T, B, H): each step's slice contiguous
    w_hh_t = w_hh.t()
    if torch.is_grad_enabled() and (w_hh.requires_grad or x.requires_grad):
        hs = []
        h = h0
        for xw_t in xw.unbind(0):  # unbind: one backward node, not T full-size zero-filled slices
            h = torch.tanh(torch.addmm(xw_t, h, w_hh_t))
            hs.append(h)
        return torch.stack(hs, dim=1)  # (B, T, H)
    out = torch.empty(T, B, H, dtype=x.dtype)
    h = h0
    for t in range(T):
        torch.addmm(xw[t], h, w_hh_t, out=out[t])
        h = out[t].tanh_()
    return out.transpose(0, 1)  # (B, T, H) view


@torch.jit.script
def _scripted_infer(xw: torch.Tensor, w_hh_t: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    T = xw.shape[0]
    out = torch.empty_like(xw)
    h = h0
    for t in range(T):
        torch.addmm(xw[t], h, w_hh_t, out=out[t])
        h = out[t].tanh_()
    return out


@torch.jit.script
def _scripted_train(xw: torch.Tensor, w_hh_t: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    hs: list[torch.Tensor] = []
    h = h0
    for xw_t in xw.unbind(0):
        h = torch.tanh(torch.addmm(xw_t, h, w_hh_t))
        hs.append(h)
    return torch.stack(hs, dim=0)


def script(x, w_ih, w_hh, b_ih, b_hh, h0):
    B, T, F = x.shape
    H = w_hh.shape[0]
    xw = torch.addmm(b_ih + b_hh, x.reshape(B * T, F), w_ih.t()).reshape(B, T, H).transpose(0, 1).contiguous()
    if torch.is_grad_enabled() and (w_hh.requires_grad or x.requires_grad):
        return _scripted_train(xw, w_hh.t(), h0).transpose(0, 1)
    return _scripted_infer(xw, w_hh.t().contiguous(), h0).transpose(0, 1)


CANDIDATES = {"vf": vf, "hoisted": hoisted, "script": script}


def _time(fn, steps, warmup):
    """(wall, cpu) summaries of ``fn``'s time per call, in ms."""
    cpu = []
    wall = measure(fn, warmup, steps, cpu)
    return summarize(wall), summarize(cpu)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--time", type=int, default=700)
    p.add_argument("--units", type=int, default=200)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, T, F, H = args.batch, args.time, 1, args.units
    x = torch.randn(B, T, F)
    params = [torch.randn(H, F) * 0.3, torch.randn(H, H) / H**0.5, torch.randn(H) * 0.1, torch.randn(H) * 0.1]
    params = [p_.requires_grad_() for p_ in params]
    h0 = torch.zeros(B, H)
    with torch.no_grad():
        ref = vf(x, *params, h0)
    ref_grads = torch.autograd.grad(vf(x, *params, h0).square().mean(), params)
    print(f"SimpleRNN tanh, B={B} T={T} F={F} H={H}, {args.threads} thread(s), "
          f"wall ms median [min-max] and CPU ms median over {args.steps} calls")
    print("| kernel | inference wall | CPU | forward+backward wall | CPU | max abs diff vs vf (out / grads) |")
    print("|---|---|---|---|---|---|")
    for name, fn in CANDIDATES.items():
        with torch.inference_mode():
            out = fn(x, *params, h0)
            inf = _time(lambda fn=fn: fn(x, *params, h0), args.steps, args.warmup)
        grads = torch.autograd.grad(fn(x, *params, h0).square().mean(), params)
        d_out = (out - ref).abs().max().item()
        d_grad = max((a - b).abs().max().item() for a, b in zip(grads, ref_grads))

        def train(fn=fn):
            torch.autograd.grad(fn(x, *params, h0).square().mean(), params)

        tr = _time(train, args.steps, args.warmup)
        f = lambda s: f"{s['median_ms']:.1f} [{s['min_ms']:.1f}-{s['max_ms']:.1f}]"  # noqa: E731
        print(f"| {name} | {f(inf[0])} | {inf[1]['median_ms']:.1f} | {f(tr[0])} | {tr[1]['median_ms']:.1f} "
              f"| {d_out:.1e} / {d_grad:.1e} |", flush=True)


if __name__ == "__main__":
    main()
