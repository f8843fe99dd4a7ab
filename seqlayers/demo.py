"""``seqlayers demo``: a first look at the library on built-in data (the full demo lands with the
topologies work; for now it builds the topologies that exist and says what it did)."""
from __future__ import annotations

import torch


def run(args) -> int:
    from . import Dense, Sequential, TimeDistributed

    torch.manual_seed(0)
    model = Sequential([TimeDistributed(Dense(1), input_shape=(5, 1))])
    model.summary()
    x = torch.linspace(0, 0.8, 5).reshape(1, 5, 1)
    print("TimeDistributed(Dense(1)) on (1, 5, 1) ->", tuple(model(x).shape))
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="train the tutorial's sequence models on built-in data and explain them")
    p.set_defaults(func=run)
