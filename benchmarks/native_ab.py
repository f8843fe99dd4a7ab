"""The native inference ops' own AVX-512 kernels against their MKL-sgemm path, in one process.

Each native op (``simple_rnn_forward``, ``gated_rnn_forward``) has two ways to do a step on an
AVX-512 CPU: the hand-written kernels of ``seqlayers/native`` and, with ``blas_only``, MKL's sgemm
plus separate passes (what other CPUs run). This times both on the same inputs, alternating call
blocks round by round, and prints the median over rounds of own / sgemm with the range: the figure
to read before and after a kernel change (its ratio is steady across processes on this shared VM,
where absolute times move by 10-20% between runs).

Run: ``python -m benchmarks.native_ab [--rounds 7] [--calls 5]`` (one torch thread).
"""
from __future__ import annotations

import argparse
import time

import torch

from seqlayers import native

#: (name, op, B, T, F, H[, repeated]): W4's SimpleRNN and shapes around it, W1's LSTM and GRU (W6),
#: single rows, W3's encoder and decoder (its input RepeatVector's: one row repeated in time, stride 0)
SHAPES = [
    ("SimpleRNN W4", "rnn", 16, 700, 1, 200),
    ("SimpleRNN H=192", "rnn", 16, 700, 1, 192),
    ("SimpleRNN B=64 F=8 H=128", "rnn", 64, 100, 8, 128),
    ("SimpleRNN B=1", "rnn", 1, 700, 1, 200),
    ("LSTM W1", "lstm", 64, 100, 8, 128),
    ("LSTM B=1", "lstm", 1, 100, 8, 128),
    ("LSTM W2 (F + H = 228)", "lstm", 32, 50, 100, 128),
    ("GRU W6", "gru", 64, 100, 8, 128),
    ("GRU B=1", "gru", 1, 100, 8, 128),
    ("LSTM W3 encoder", "lstm", 128, 7, 12, 128),
    ("LSTM W3 decoder (repeated input)", "lstm", 128, 4, 128, 128, True),
    ("GRU repeated input (F + H = 256)", "gru", 64, 8, 128, 128, True),
]


def _call(kind: str, B: int, T: int, F: int, H: int, repeated: bool = False):
    """A function ``f(blas_only)`` running the op once on fixed random inputs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, 1, F, generator=g).expand(B, T, F) if repeated else torch.randn(B, T, F, generator=g)
    if kind == "rnn":
        w_ih_t, w_hh_t = torch.randn(F, H, generator=g) * 0.1, torch.randn(H, H, generator=g) * 0.07
        bias, h0 = torch.randn(H, generator=g) * 0.1, torch.zeros(B, H)
        return lambda blas: torch.ops.seqlayers_native.simple_rnn_forward(x, w_ih_t, w_hh_t, bias, h0, False, blas)
    G, code = (4, 0) if kind == "lstm" else (3, 1)
    w_ih, w_hh = torch.randn(G * H, F, generator=g) * 0.1, torch.randn(G * H, H, generator=g) * 0.1
    b = torch.randn(G * H, generator=g) * 0.1
    return lambda blas: torch.ops.seqlayers_native.gated_rnn_forward(
        x, code, [w_ih], [w_hh], [b], [b], [None], [None], None, [False], [False], False, True, blas)


def _cpu_ms(fn, calls: int) -> float:
    t0 = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - t0) / calls * 1e3


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds (the median is over these)")
    p.add_argument("--calls", type=int, default=5, help="calls per contender and round")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.calls < 1:
        p.error(f"--rounds and --calls must be >= 1, got {args.rounds} and {args.calls}")
    if not native.use_native():
        raise SystemExit(f"native_ab: the native library is not in use ({native.status()}); "
                         "build it with `python -m seqlayers.native`.")
    torch.set_num_threads(1)
    print("| shape | own loop | own ms | sgemm ms | own / sgemm [min-max over rounds] |\n|---|---|---|---|---|")
    for name, kind, B, T, F, H, *repeated in SHAPES:
        f = _call(kind, B, T, F, H, *repeated)
        f(True), f(False)  # warm-up; the own side last, so that last_loop() names its LSTM/GRU loop
        loop = native.last_loop() if kind != "rnn" else "rnn_step"
        rounds = [(_cpu_ms(lambda f=f: f(False), args.calls), _cpu_ms(lambda f=f: f(True), args.calls))
                  for _ in range(args.rounds)]
        ratios = sorted(a / b for a, b in rounds)
        med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
        print(f"| {name} (B={B} T={T} F={F} H={H}) | {loop} | {med([a for a, _ in rounds]):.3f} | "
              f"{med([b for _, b in rounds]):.3f} | {med(ratios):.3f}x [{ratios[0]:.3f}-{ratios[-1]:.3f}] |",
              flush=True)


if __name__ == "__main__":
    main()
