"""Merging layers against Keras 3 (torch backend): values and output masks, masked or not, and from
Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers.layers import merging as M
from seqlayers.layers.base import get_mask
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip

B, T, F = 3, 4, 5
MASK_A = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)
MASK_B = np.array([[1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)


def data(n=2, shape=(B, T, F), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype("float32") for _ in range(n)]


ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
MASKINGS = {"none": None, "first": [MASK_A, None], "second": [None, MASK_B], "both": [MASK_A, MASK_B]}


@pytest.mark.parametrize("masks", list(MASKINGS), ids=list(MASKINGS))
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_merges_and_their_masks_equal_keras(name, masks):
    assert_same_as_keras(getattr(M, name)(), getattr(keras.layers, name)(), data(), MASKINGS[masks])


@pytest.mark.parametrize("name", ["Add", "Multiply", "Average", "Maximum", "Minimum"])
def test_three_masked_inputs_equal_keras(name):
    masks = [MASK_A, MASK_B, np.ones((B, T), bool)]
    assert_same_as_keras(getattr(M, name)(), getattr(keras.layers, name)(), data(3), masks)


def test_add_mask_is_none_with_one_masked_input_and_the_or_with_both():
    a, b = (torch.from_numpy(x) for x in data())
    sl.layers.set_mask(a, torch.from_numpy(MASK_A))
    assert get_mask(M.Add()([a, b])) is None
    sl.layers.set_mask(b, torch.from_numpy(MASK_B))
    torch.testing.assert_close(get_mask(M.Add()([a, b])), torch.from_numpy(MASK_A | MASK_B))


@pytest.mark.parametrize("masks", list(MASKINGS), ids=list(MASKINGS))
@pytest.mark.parametrize("axis", [1, -1, 2])
def test_concatenate_along_time_and_features_masks_equal_keras(axis, masks):
    assert_same_as_keras(M.Concatenate(axis=axis), keras.layers.Concatenate(axis=axis), data(), MASKINGS[masks])


def test_concatenate_along_time_concatenates_the_masks():
    a, b = (torch.from_numpy(x) for x in data())
    sl.layers.set_mask(a, torch.from_numpy(MASK_A))
    out = M.Concatenate(axis=1)([a, b])
    assert out.shape == (B, 2 * T, F)
    torch.testing.assert_close(get_mask(out),
                               torch.cat([torch.from_numpy(MASK_A), torch.ones(B, T, dtype=torch.bool)], 1))


@pytest.mark.parametrize("axes,shapes", [
    (2, [(B, 3, F), (B, 6, F)]), ((1, 2), [(B, 3, 5), (B, 7, 3)]), (1, [(B, F), (B, F)]),
    (-1, [(B, 2, 3, 4), (B, 5, 4)]), ((1, 1), [(B, 4), (B, 4, 6)]), ((2, 1), [(B, 3, 4), (B, 4)]),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_equals_keras(axes, shapes, normalize):
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(s).astype("float32") for s in shapes]
    assert_same_as_keras(M.Dot(axes, normalize=normalize), keras.layers.Dot(axes, normalize=normalize), inputs)


def test_dot_matches_brute_force_and_has_no_mask():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    sl.layers.set_mask(a, torch.ones(2, 3, dtype=torch.bool))
    out = M.Dot(axes=2)([a, b])
    for i in range(2):
        for m in range(3):
            for n in range(5):
                assert abs(float(out[i, m, n]) - float((a[i, m] * b[i, n]).sum())) < 1e-5
    assert get_mask(out) is None


def test_broadcasting_inputs_of_lower_rank_equal_keras():
    rng = np.random.default_rng(4)
    inputs = [rng.standard_normal((B, T, F)).astype("float32"), rng.standard_normal((B, F)).astype("float32")]
    for name in ("Add", "Maximum", "Multiply"):
        assert_same_as_keras(getattr(M, name)(), getattr(keras.layers, name)(), inputs)


def test_functional_forms_build_the_layers():
    a, b = (torch.from_numpy(x) for x in data())
    for fn, op in [(M.add, a + b), (M.subtract, a - b), (M.multiply, a * b), (M.average, (a + b) / 2),
                   (M.maximum, torch.maximum(a, b)), (M.minimum, torch.minimum(a, b)),
                   (M.concatenate, torch.cat([a, b], -1))]:
        torch.testing.assert_close(fn([a, b]), op)
    torch.testing.assert_close(M.dot([a, b], axes=2), a @ b.transpose(1, 2))
    x, y = sl.Input(shape=(T, F)), sl.Input(shape=(T, F))
    model = sl.Model([x, y], [M.subtract([x, y]), M.concatenate([x, y], axis=1), M.dot([x, y], axes=1)])
    outs = model([a, b])
    assert [tuple(o.shape) for o in outs] == [(B, T, F), (B, 2 * T, F), (B, F, F)]
    assert [o.shape for o in model.outputs] == [(None, T, F), (None, 2 * T, F), (None, F, F)]


@pytest.mark.parametrize("cls,kwargs", [(M.Subtract, {}), (M.Dot, {"axes": 2}), (M.Maximum, {})])
def test_merges_pass_the_shared_checker_on_a_pair(cls, kwargs):
    layer = cls(**kwargs)
    x = [torch.randn(2, 3, 4, requires_grad=True), torch.randn(2, 3, 4)]
    out = layer(x)
    out.sum().backward()
    assert x[0].grad is not None
    clone = cls.from_config(layer.get_config())
    torch.testing.assert_close(clone(x), out)
    assert clone.get_config() == layer.get_config()


def test_merge_errors_name_the_layer_and_the_fix():
    with pytest.raises(ValueError, match=r"Subtract 's': expected exactly 2 inputs, got 3"):
        M.Subtract(name="s")([torch.zeros(2, 3)] * 3)
    with pytest.raises(ValueError, match=r"Dot: the dot axes must have the same size, got 4 \(axis 2.*and 5"):
        M.Dot(axes=2)([torch.zeros(2, 3, 4), torch.zeros(2, 3, 5)])
    with pytest.raises(ValueError, match=r"Dot: axes=0 includes the batch axis 0"):
        M.Dot(axes=0)([torch.zeros(2, 3), torch.zeros(2, 3)])
    with pytest.raises(ValueError, match=r"Dot: axes must be an integer or a pair of integers.*got \(1, 2, 3\)"):
        M.Dot(axes=(1, 2, 3))
    with pytest.raises(TypeError, match=r"Dot: axes must be an integer or a pair.*got 'x'"):
        M.Dot(axes="x")
    with pytest.raises(ValueError, match=r"Maximum: inputs must have the same shape, got \(2, 3\), \(2, 4\)"):
        M.Maximum()([torch.zeros(2, 3), torch.zeros(2, 4)])


def test_every_merge_loads_from_a_keras_file(tmp_path):
    a, b = keras.Input((T, F)), keras.Input((T, F))
    m = keras.layers.Masking()(a)
    outs = [getattr(keras.layers, n)()([m, b]) for n in ELEMENTWISE]
    outs += [keras.layers.Concatenate(axis=1)([a, b]), keras.layers.Dot(axes=(1, 1), normalize=True)([a, b]),
             keras.layers.Dot(axes=2)([a, b])]
    kmodel = keras.Model([a, b], outs)
    x = data()
    x[0][0, 2:] = 0.0  # masked steps for the Masking input
    keras_file_roundtrip(tmp_path, kmodel, x)


def test_compute_mask_checks_the_mask_list_as_keras():
    a, b = torch.zeros(2, 4, 5), torch.zeros(2, 4, 5)
    for layer in (M.Add(), M.Concatenate()):
        with pytest.raises(ValueError,
                           match=r"`mask` should be a list of one mask \(or None\) per input, got a Tensor"):
            layer.compute_mask([a, b], torch.ones(2, 4, dtype=torch.bool))
        with pytest.raises(ValueError, match=r"`inputs` should be a list of tensors, got a Tensor"):
            layer.compute_mask(a, [None, None])
        with pytest.raises(ValueError, match=r"inputs and masks should have the same length, got 2 inputs and 1 masks"):
            layer.compute_mask([a, b], [None])
        assert layer.compute_mask([a, b], None) is None


def test_concatenate_mask_of_symbolic_inputs_with_real_masks_equals_the_eager_one():
    x1, x2 = (torch.rand(2, 4, 5) for _ in range(2))
    m1, m2 = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]]).bool(), torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]]).bool()
    a, b = sl.Input((4, 5)), sl.Input((4, 5))  # batch unknown: the masks give it
    for axis in (1, -1):
        layer = sl.Concatenate(axis=axis)
        eager = layer.compute_mask([x1, x2], [m1, m2])
        torch.testing.assert_close(layer.compute_mask([a, b], [m1, m2]), eager)
        torch.testing.assert_close(layer.compute_mask([a, b], [m1, None]), layer.compute_mask([x1, x2], [m1, None]))
    assert sl.Concatenate().compute_mask([a, b], [None, None]) is None
