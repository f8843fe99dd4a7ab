"""One shared layer checker (as Keras's run_layer_test): every layer gets all of it for free.

``check_layer(cls, kwargs, input_shape, expected_output_shape)`` checks
* forward: output shape (and ``compute_output_shape`` agrees, with None for the batch axis);
* backward: every trainable parameter and the float input receive finite gradients;
* config round trip: ``cls.from_config(layer.get_config())`` rebuilds a layer that, given the same
  weights through ``set_weights(get_weights())``, computes the same output;
* weights round trip: ``get_weights`` returns numpy arrays whose shapes ``set_weights`` accepts;
* symbolic: calling the layer on ``Input`` gives the same output shape (batch as None).
"""
from __future__ import annotations

import numpy as np
import torch

from seqlayers import Input
from seqlayers.utils import flatten


def make_input(shape, int_vocab: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if int_vocab:
        return torch.randint(0, int_vocab, shape, generator=g)
    return torch.randn(shape, generator=g)


def check_layer(cls, kwargs: dict, input_shape: tuple, expected_output_shape, int_vocab: int | None = None,
                atol: float = 1e-6):
    layer = cls(**kwargs)
    layer.eval()
    x = make_input(input_shape, int_vocab)
    if x.is_floating_point():
        x.requires_grad_(True)
    y = layer(x)
    outs = flatten(y)
    expected = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
    assert [tuple(o.shape) for o in outs] == [tuple(e) for e in expected], \
        f"{cls.__name__}: got {[tuple(o.shape) for o in outs]}, expected {expected}"

    # compute_output_shape agrees, with None for the batch axis
    predicted = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    predicted = predicted if isinstance(predicted, list) else [predicted]
    assert len(predicted) == len(expected), (predicted, expected)
    for p, e in zip(predicted, expected):  # each known predicted size (batch axis aside) is the real one
        assert len(p) == len(e) and all(d is None or d == r for d, r in zip(tuple(p)[1:], tuple(e)[1:])), \
            f"{cls.__name__}: compute_output_shape gives {p}, the layer gives {e}"

    # backward
    loss = sum(o.float().sum() for o in outs)
    if loss.requires_grad:
        loss.backward()
        for name, p in layer.named_parameters():
            if p.requires_grad:
                assert p.grad is not None, f"{cls.__name__}: no gradient for {name}"
                assert torch.isfinite(p.grad).all(), f"{cls.__name__}: non-finite gradient for {name}"
        if x.is_floating_point():
            assert x.grad is not None and torch.isfinite(x.grad).all()

    # weights round trip and config round trip give the same numbers
    weights = layer.get_weights()
    assert all(isinstance(w, np.ndarray) for w in weights)
    clone = cls.from_config(layer.get_config())
    clone.eval()
    clone(x.detach())  # build
    clone.set_weights(weights)
    for a, b in zip(flatten(clone(x.detach())), outs):
        torch.testing.assert_close(a, b.detach(), atol=atol, rtol=1e-5)
    assert clone.get_config() == layer.get_config()

    # symbolic call on Input gives the same per-sample shape
    fresh = cls(**kwargs)
    sym = fresh(Input(shape=tuple(input_shape[1:]), dtype="int64" if int_vocab else "float32"))
    sym_shapes = [s.shape for s in flatten(sym)]
    for s, e in zip(sym_shapes, expected):
        assert s[0] is None and tuple(s[1:]) == tuple(e[1:]), (s, e)
    return layer, y
