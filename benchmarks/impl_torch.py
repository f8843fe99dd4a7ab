"""Hand-written plain PyTorch: the reference every ratio is taken against.

``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (batch_first) + ``nn.Linear``, the same sizes as the Keras
models, ``torch.optim.Adam(lr=1e-3)``, and the loss a PyTorch user writes: ``F.mse_loss`` for
regression, ``F.cross_entropy`` on logits (softmax folded into the loss) for classification.

Variants (``--variant``):
    dense   (default) every workload; for W5 the recurrence runs over the padding too (mask ignored),
            only the loss skips padded positions (``ignore_index``);
    packed  W5 only: ``pack_padded_sequence`` so the LSTM stops at each sequence's length.

    python -m benchmarks.impl_torch --workload W1 --steps 20 --warmup 3
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .timing import Case, Skip, main_for
from .workloads import Workload, make_batch

RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
IGNORE = -100


class Regression(nn.Module):
    """x (B, T, F) -> RNN(H) -> Linear(1) -> (B, T, 1)."""

    def __init__(self, w: Workload):
        super().__init__()
        self.rnn = RNN_CLASSES[w.cell](w.features, w.units, batch_first=True)
        self.head = nn.Linear(w.units, 1)

    def forward(self, x):
        h, _ = self.rnn(x)  # (B, T, H)
        return self.head(h)  # (B, T, 1)


class Tagger(nn.Module):
    """ids (B, T) -> Embedding(V, D) -> BiLSTM(H) -> Linear(C) -> logits (B, T, C)."""

    def __init__(self, w: Workload, packed: bool = False):
        super().__init__()
        self.embed = nn.Embedding(w.vocab, w.embed_dim, padding_idx=0 if w.masked else None)
        self.rnn = nn.LSTM(w.embed_dim, w.units, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * w.units, w.classes)
        self.packed = packed

    def forward(self, ids, lengths=None):
        B, T = ids.shape
        e = self.embed(ids)  # (B, T, D)
        if self.packed:
            p = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
            h, _ = self.rnn(p)
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=T)  # (B, T, 2H)
        else:
            h, _ = self.rnn(e)  # (B, T, 2H)
        return self.head(h)  # (B, T, C)


class Seq2Seq(nn.Module):
    """one-hot (B, T, F) -> LSTM(H) last state -> repeat T_out -> LSTM(H) -> Linear(F) -> (B, T_out, F)."""

    def __init__(self, w: Workload):
        super().__init__()
        self.encoder = nn.LSTM(w.features, w.units, batch_first=True)
        self.decoder = nn.LSTM(w.units, w.units, batch_first=True)
        self.head = nn.Linear(w.units, w.features)
        self.out_steps = w.out_steps

    def forward(self, x):
        _, (h, _) = self.encoder(x)  # h: (1, B, H)
        r = h[-1].unsqueeze(1).expand(-1, self.out_steps, -1)  # (B, H) -> (B, T_out, H)
        d, _ = self.decoder(r)  # (B, T_out, H)
        return self.head(d)  # (B, T_out, F)


def build(w: Workload, variant: str = "", threads: int | None = None) -> Case:
    variant = variant or "dense"
    if variant not in ("dense", "packed"):
        raise ValueError(f"impl_torch: unknown variant {variant!r} (dense, packed)")
    if variant == "packed" and not w.masked:
        raise Skip("pack_padded_sequence applies to the masked workload (W5) only")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = make_batch(w)
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    lengths = torch.from_numpy(data["lengths"]) if data["lengths"] is not None else None

    if w.kind == "regression":
        model = Regression(w)

        def loss_of(out):
            return F.mse_loss(out, y)
    elif w.kind == "tagging":
        model = Tagger(w, packed=variant == "packed")
        if w.masked:  # padded positions do not count in the loss (either variant)
            pad = torch.arange(w.time)[None, :] >= lengths[:, None]
            y = y.masked_fill(pad, IGNORE)

        def loss_of(out):
            return F.cross_entropy(out.reshape(-1, w.classes), y.reshape(-1), ignore_index=IGNORE)
    else:
        model = Seq2Seq(w)

        def loss_of(out):
            return F.cross_entropy(out.reshape(-1, w.features), y.reshape(-1))

    forward = (lambda: model(x, lengths)) if w.kind == "tagging" else (lambda: model(x))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_of(forward())
        loss.backward()
        opt.step()
        return loss

    def infer_step():
        model.eval()
        with torch.inference_mode():
            return forward()

    notes = {"dense": "mask ignored by the recurrence (loss skips padding)" if w.masked else "",
             "packed": "pack_padded_sequence(enforce_sorted=False)"}[variant]
    return Case(train_step, infer_step, versions={"torch": torch.__version__}, notes=notes,
                threads=torch.get_num_threads())


if __name__ == "__main__":
    sys.exit(main_for(build))
