"""A short GPU workload for `make gpu-check` (issue 17 item 6): ms per training step and per inference
batch on CUDA of a masked Embedding -> Bidirectional(LSTM) -> LSTM -> Dense model (seqlayers) and the
same shapes in plain torch (nn.LSTM, packed sequences). Prints one line per measurement; exits 2 without
a CUDA device. Its figures go into docs/performance.md only after a run on a GPU."""
import argparse
import sys
import time

import torch
from torch import nn

import seqlayers as sl


class PlainTorch(nn.Module):
    def __init__(self, vocab, emb, units, classes):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb, padding_idx=0)
        self.bi = nn.LSTM(emb, units, batch_first=True, bidirectional=True)
        self.top = nn.LSTM(2 * units, units, batch_first=True)
        self.out = nn.Linear(units, classes)

    def forward(self, ids):
        lengths = (ids != 0).sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths, batch_first=True, enforce_sorted=False)
        seq, _ = self.bi(packed)
        _, (h, _) = self.top(seq)
        return self.out(h[-1])


def seqlayers_model(vocab, emb, units, classes):
    return sl.Sequential([sl.Embedding(vocab, emb, mask_zero=True),
                          sl.Bidirectional(sl.LSTM(units, return_sequences=True)), sl.LSTM(units),
                          sl.Dense(classes)])


def _time(fn, steps, warmup, dev):
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--time", type=int, default=100)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N; cpu only to try the script")
    a = p.parse_args(argv)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    vocab, classes = 1000, 10
    lengths = torch.randint(a.time // 2, a.time + 1, (a.batch,))
    ids = torch.randint(1, vocab, (a.batch, a.time)) * (torch.arange(a.time)[None] < lengths[:, None])
    ids, y = ids.to(dev), torch.randint(0, classes, (a.batch,), device=dev)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev)
    print(f"device: {where}; torch {torch.__version__}; batch {a.batch}, "
          f"time {a.time}, units {a.units}, right-padded masks")
    for name, make in (("seqlayers", seqlayers_model), ("torch", PlainTorch)):
        model = make(vocab, 64, a.units, classes).to(dev)
        model(ids)  # builds a lazy model before the optimizer is made
        opt = torch.optim.Adam(model.parameters())

        def train_step(opt=opt, model=model):  # this iteration's (bound: B023)
            opt.zero_grad()
            nn.functional.cross_entropy(model(ids), y).backward()
            opt.step()

        def infer(model=model):
            with torch.no_grad():
                model(ids)

        model.train()
        train_ms = _time(train_step, a.steps, a.warmup, dev)
        model.eval()
        infer_ms = _time(infer, a.steps, a.warmup, dev)
        print(f"{name:10s} train step {train_ms:8.2f} ms   inference {infer_ms:8.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
