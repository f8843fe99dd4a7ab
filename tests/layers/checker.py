"""One shared layer checker (as Keras's run_layer_test): every layer gets all of it for free.

``check_layer(cls, kwargs, input_shape, expected_output_shape, mask=...)`` checks
* forward: output shape (and ``compute_output_shape`` agrees, with None for the batch axis);
* backward: every trainable parameter and the float input receive finite gradients;
* config round trip: ``cls.from_config(layer.get_config())`` rebuilds a layer that, given the same
  weights through ``set_weights(get_weights())``, computes the same output;
* weights round trip: ``get_weights`` returns numpy arrays whose shapes ``set_weights`` accepts;
* symbolic: calling the layer on ``Input`` gives the same output shape (batch as None);
* save/load: a functional model ``Input -> layer`` written with ``model.save`` to a ``.seqlayers`` file and
  read back with ``seqlayers.load_model`` computes the same output;
* mask propagation (``mask="same"`` or ``"none"``): given inputs that carry a (batch, time) mask, the
  output carries that same mask, or none.

``input_shape`` is one shape or a list of shapes (a layer called on a list of tensors); ``kwargs`` is a
dict or a function returning one (for arguments that must be fresh per layer, e.g. a wrapped layer);
``unpack=True`` calls the layer with the inputs as positional arguments (``layer(query, value)``);
``input_grad=False`` skips the input-gradient check for a layer that reads only its input's shape
(``PositionEmbedding``).

``check_cell(cls, kwargs, (B, F), (B, H), reference=..., tmp_path=...)`` is the same contract for a
recurrent cell, called as ``cell(x_t, states)`` and returning ``(output, new_states)`` (see its docstring).
"""
from __future__ import annotations

import numpy as np
import torch

import seqlayers
from seqlayers import Input, Model
from seqlayers.layers import get_mask, set_mask
from seqlayers.utils import flatten


def make_input(shape, int_vocab: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if int_vocab:
        return torch.randint(0, int_vocab, shape, generator=g)
    return torch.randn(shape, generator=g)


def _is_multi(input_shape) -> bool:
    return isinstance(input_shape, list)


def _inputs(input_shape, int_vocab, seed: int = 0):
    if _is_multi(input_shape):
        return [make_input(tuple(s), int_vocab, seed + i) for i, s in enumerate(input_shape)]
    return make_input(tuple(input_shape), int_vocab, seed)


def _symbolic_inputs(input_shape, int_vocab):
    dtype = "int64" if int_vocab else "float32"
    shapes = input_shape if _is_multi(input_shape) else [input_shape]
    sym = [Input(shape=tuple(s[1:]), dtype=dtype) for s in shapes]
    return sym if _is_multi(input_shape) else sym[0]


def _detach(x):
    return [t.detach() for t in x] if isinstance(x, list) else x.detach()


def _assert_same_outputs(got, want, what: str, atol: float):
    got, want = flatten(got), flatten(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b.detach(), atol=atol, rtol=1e-5, msg=lambda m: f"{what}: {m}")


def check_layer(cls, kwargs, input_shape, expected_output_shape, int_vocab: int | None = None,
                atol: float = 1e-6, mask: str | None = None, tmp_path=None, unpack: bool = False,
                input_grad: bool = True):
    make_kwargs = kwargs if callable(kwargs) else (lambda: dict(kwargs))
    layer = cls(**make_kwargs())
    layer.eval()
    x = _inputs(input_shape, int_vocab)
    for t in flatten(x):
        if t.is_floating_point():
            t.requires_grad_(True)
    def call(lay, inputs):  # a list of inputs as one argument, or (unpack) as positional arguments
        return lay(*inputs) if unpack else lay(inputs)

    y = call(layer, x)
    outs = flatten(y)
    expected = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
    assert [tuple(o.shape) for o in outs] == [tuple(e) for e in expected], \
        f"{cls.__name__}: got {[tuple(o.shape) for o in outs]}, expected {expected}"

    # compute_output_shape agrees, with None for the batch axis
    if _is_multi(input_shape):
        shapes = [(None,) + tuple(s[1:]) for s in input_shape]
        predicted = layer.compute_output_shape(*shapes) if unpack else layer.compute_output_shape(shapes)
    else:
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
        for t in flatten(x):
            if t.is_floating_point() and input_grad:  # (False: a layer that reads only the input's shape)
                assert t.grad is not None and torch.isfinite(t.grad).all(), f"{cls.__name__}: input gradient"
    x = _detach(x)

    # weights round trip and config round trip give the same numbers
    weights = layer.get_weights()
    assert all(isinstance(w, np.ndarray) for w in weights)
    clone = cls.from_config(layer.get_config())
    clone.eval()
    call(clone, x)  # build
    clone.set_weights(weights)
    _assert_same_outputs(call(clone, x), outs, f"{cls.__name__}: config round trip", atol)
    assert clone.get_config() == layer.get_config()

    # symbolic call on Input gives the same per-sample shape
    fresh = cls(**make_kwargs())
    sym_in = _symbolic_inputs(input_shape, int_vocab)
    sym = call(fresh, sym_in)
    sym_shapes = [s.shape for s in flatten(sym)]
    assert len(sym_shapes) == len(expected), (sym_shapes, expected)
    for s, e in zip(sym_shapes, expected):
        assert s[0] is None and tuple(s[1:]) == tuple(e[1:]), \
            f"{cls.__name__}: symbolic shape {s}, the layer gives {e}"

    # save/load: Input -> layer as a model file, read back, same numbers
    if tmp_path is not None:
        model = Model(sym_in, sym)
        model.eval()
        model(x)  # build
        fresh.set_weights(weights)
        want = model(x)
        _assert_same_outputs(want, outs, f"{cls.__name__}: model around the layer", atol)
        path = tmp_path / f"{cls.__name__}.seqlayers"
        model.save(path)
        loaded = seqlayers.load_model(path)
        loaded.eval()
        _assert_same_outputs(loaded(x), want, f"{cls.__name__}: save/load", atol)

    # mask propagation: a (batch, time) mask on the inputs comes out as declared
    if mask is not None:
        assert mask in ("same", "none"), mask
        first = flatten(x)[0]
        m = torch.ones(first.shape[:2], dtype=torch.bool)
        m[0, -1] = False
        xm = [t.clone() for t in x] if isinstance(x, list) else x.clone()
        for t in flatten(xm):
            set_mask(t, m)
        out_mask = get_mask(flatten(call(layer, xm))[0])
        if mask == "same":
            assert out_mask is not None, f"{cls.__name__}: the input's mask is lost"
            assert torch.equal(torch.as_tensor(out_mask).bool(), m), \
                f"{cls.__name__}: the output's mask {out_mask} is not the input's {m}"
        else:
            assert out_mask is None, f"{cls.__name__}: the output carries a mask {out_mask}, expected none"
    return layer, y


def _state_sizes(cell) -> list:
    size = cell.state_size  # a stack of cells (StackedRNNCells) nests its cells' sizes: flattened
    return [int(size)] if isinstance(size, int) else [n for s in size for n in _state_sizes_of(s)]


def _state_sizes_of(size) -> list:
    return [int(size)] if isinstance(size, int) else [int(s) for s in size]


def check_cell(cls, kwargs, input_shape, expected_output_shape, reference=None, atol: float = 1e-5,
               tmp_path=None):
    """Check a recurrent cell, called as ``cell(x_t, states)`` and returning ``(output, new_states)``.

    * forward: one step from random states (shapes from ``state_size``) gives an output of
      ``expected_output_shape`` and new states of the ``state_size`` shapes;
    * backward: every trainable parameter, the input and every state receive finite gradients;
    * weights round trip (numpy), config round trip (``from_config`` + ``set_weights``: same step);
    * reference (when given): ``reference(weights, x, states) -> (output, new_states)``, an independent
      implementation fed the cell's Keras-layout ``get_weights()``, gives the same step;
    * save/load (when ``tmp_path`` is given): ``Input((1, F)) -> RNN(cell, return_state=True)`` written
      as ``.seqlayers`` and read back with ``load_model`` gives the same outputs, and its output at step 1
      is the cell's step from zero states.
    """
    make_kwargs = kwargs if callable(kwargs) else (lambda: dict(kwargs))
    name = cls.__name__
    cell = cls(**make_kwargs())
    cell.eval()
    B, F_ = tuple(input_shape)
    sizes = _state_sizes(cell)
    x = make_input((B, F_), seed=0)
    states = [make_input((B, n), seed=1 + i) for i, n in enumerate(sizes)]
    cell(x, [s.clone() for s in states])  # build
    # random weights (the zero bias initializer would hide a bias mix-up from the reference)
    g = torch.Generator().manual_seed(7)
    cell.set_weights([torch.randn(w.shape, generator=g).numpy() * 0.5 for w in cell.get_weights()])

    xg = x.clone().requires_grad_(True)
    sg = [s.clone().requires_grad_(True) for s in states]
    out, new_states = cell(xg, sg)
    new_states = flatten(new_states)  # a stack of cells returns one list per cell (Keras's layout)
    assert isinstance(new_states, (list, tuple)), f"{name}: new states are {type(new_states)}, expected a list"
    assert tuple(out.shape) == tuple(expected_output_shape), \
        f"{name}: step output {tuple(out.shape)}, expected {tuple(expected_output_shape)}"
    assert [tuple(s.shape) for s in new_states] == [(B, n) for n in sizes], \
        f"{name}: new states {[tuple(s.shape) for s in new_states]}, state_size gives {[(B, n) for n in sizes]}"

    # backward: gradients reach every weight, the input and every incoming state
    (out.sum() + sum(s.sum() for s in new_states)).backward()
    for pname, p in cell.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: no gradient for {pname}"
            assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, \
                f"{name}: zero or non-finite gradient for {pname}"
    assert xg.grad is not None and torch.isfinite(xg.grad).all(), f"{name}: input gradient"
    for i, s in enumerate(sg):
        assert s.grad is not None and torch.isfinite(s.grad).all(), f"{name}: no gradient for state {i}"
    want = [out.detach()] + [s.detach() for s in new_states]

    # weights and config round trips
    weights = cell.get_weights()
    assert all(isinstance(w, np.ndarray) for w in weights)
    clone = cls.from_config(cell.get_config())
    clone.eval()
    clone(x, [s.clone() for s in states])  # build
    clone.set_weights(weights)
    c_out, c_states = clone(x, [s.clone() for s in states])
    _assert_same_outputs([c_out] + flatten(c_states), want, f"{name}: config round trip", atol)
    assert clone.get_config() == cell.get_config()

    # an independent implementation with the same (Keras-layout) weights gives the same step
    if reference is not None:
        r_out, r_states = reference(weights, x, [s.clone() for s in states])
        _assert_same_outputs([r_out] + list(r_states), want, f"{name}: reference step", atol)

    # save/load through RNN(cell) in a model from Input; step 1 of the RNN is the cell's step from zeros
    if tmp_path is not None:
        from seqlayers.layers import RNN
        wrapped = cls.from_config(cell.get_config())
        inp = Input(shape=(1, F_))
        model = Model(inp, RNN(wrapped, return_state=True)(inp))
        model.eval()
        seq = x[:, None, :]
        model(seq)  # build
        wrapped.set_weights(weights)
        got = flatten(model(seq))
        with torch.no_grad():
            z_out, z_states = cell(x, [torch.zeros(B, n) for n in sizes])
        _assert_same_outputs(got, [z_out] + flatten(z_states), f"{name}: RNN(cell) step 1", atol)
        path = tmp_path / f"{name}.seqlayers"
        model.save(path)
        loaded = seqlayers.load_model(path)
        loaded.eval()
        _assert_same_outputs(loaded(seq), got, f"{name}: save/load", atol)
    return cell, (out, new_states)
