"""LayerNormalization and BatchNormalization against Keras 3 (same weights; training and inference;
masks) and from Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers.layers.base import get_mask
from tests.layers.checker import check_layer
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip, onnx_roundtrip

pytestmark = pytest.mark.filterwarnings("ignore:.*rms_scaling")  # Keras deprecates it, and says so

X = np.random.default_rng(0).standard_normal((3, 5, 4)).astype("float32") * 2 + 1
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)


@pytest.mark.parametrize("kwargs", [{}, dict(epsilon=1e-5), dict(center=False), dict(scale=False),
                                    dict(axis=[1, 2]), dict(rms_scaling=True)])
def test_layer_normalization_equals_keras(kwargs):
    assert_same_as_keras(sl.LayerNormalization(**kwargs), keras.layers.LayerNormalization(**kwargs), X, masks=MASK)


def test_layer_normalization_over_the_time_axis_by_brute_force():
    # (Keras 3.15 on torch fails on axis=1 of a 3-D input: it hands a non-trailing axis to torch's
    # layer_norm; so the reference here is the formula)
    x = torch.from_numpy(X)
    ln = sl.LayerNormalization(axis=1)
    ln(x)
    g, b = np.random.default_rng(2).uniform(0.5, 1.5, (2, 5)).astype("float32")
    ln.set_weights([g, b])
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    want = (x - mean) / torch.sqrt(var + 1e-3) * torch.from_numpy(g)[None, :, None] + torch.from_numpy(b)[None, :, None]
    torch.testing.assert_close(ln(x), want)


def test_layer_normalization_matches_torch_layer_norm():
    ln = sl.LayerNormalization(epsilon=1e-5)
    x = torch.from_numpy(X)
    ref = torch.nn.LayerNorm(4, eps=1e-5)
    ln(x)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    ln.set_weights([ref.weight.detach().numpy(), ref.bias.detach().numpy()])
    torch.testing.assert_close(ln(x), ref(x))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kwargs",
                         [{}, dict(momentum=0.5, epsilon=1e-2), dict(center=False, scale=False), dict(axis=1)])
def test_batch_normalization_equals_keras_and_updates_moving_statistics_as_keras(kwargs, masked, training):
    ours, ref = sl.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    assert_same_as_keras(ours, ref, X, masks=MASK if masked else None, training=training)
    for a, b in zip(ours.get_weights(), ref.get_weights()):  # the moving statistics after the call
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(renorm=True, momentum=0.5), dict(renorm=True, renorm_momentum=0.6,
                                    renorm_clipping={"rmax": 1.1, "rmin": 0.9, "dmax": 0.1}, scale=False)])
def test_batch_renormalization_equals_keras_over_several_training_steps(kwargs):
    ours, ref = sl.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    assert_same_as_keras(ours, ref, X, training=True)
    for step in range(3):
        x = X * (step + 1.5) - step
        np.testing.assert_allclose(ours(torch.from_numpy(x), training=True).detach().numpy(),
                                   keras.ops.convert_to_numpy(ref(x, training=True)), atol=1e-5, rtol=1e-5)
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours(torch.from_numpy(X), training=False).detach().numpy(),
                               keras.ops.convert_to_numpy(ref(X, training=False)), atol=1e-5, rtol=1e-5)


def test_batch_normalization_weights_counts_and_frozen_layer_as_keras():
    ours, ref = sl.BatchNormalization(), keras.layers.BatchNormalization()
    ours(torch.zeros(2, 3, 4))
    ref(np.zeros((2, 3, 4), "float32"))
    assert ours.count_params() == ref.count_params() == 16
    assert sum(p.numel() for p in ours.parameters() if p.requires_grad) == 8  # moving stats are buffers
    frozen = sl.BatchNormalization(trainable=False)
    x = torch.from_numpy(X)
    frozen(x)
    frozen.train()
    torch.testing.assert_close(frozen(x), x / np.sqrt(1 + 1e-3))  # inference statistics even in training
    assert float(frozen.moving_mean.abs().max()) == 0.0


def test_normalization_layers_pass_the_mask_on():
    x = torch.from_numpy(X)
    sl.layers.set_mask(x, torch.from_numpy(MASK))
    for layer in (sl.LayerNormalization(), sl.BatchNormalization()):
        torch.testing.assert_close(get_mask(layer(x)), torch.from_numpy(MASK))


@pytest.mark.parametrize("cls,kwargs", [(sl.LayerNormalization, {}), (sl.LayerNormalization, dict(axis=[1, 2])),
                                        (sl.BatchNormalization, {})])
def test_normalization_layers_pass_the_shared_checker(cls, kwargs):
    check_layer(cls, kwargs, (2, 5, 4), (2, 5, 4), atol=1e-5)


def test_normalization_errors_name_the_argument():
    with pytest.raises(TypeError, match=r"LayerNormalization: axis must be an integer or a list of integers, got 'x'"):
        sl.LayerNormalization(axis="x")
    with pytest.raises(ValueError, match=r"BatchNormalization: renorm_clipping takes the keys rmax, rmin, dmax"):
        sl.BatchNormalization(renorm=True, renorm_clipping={"rmaxx": 1})
    with pytest.raises(ValueError, match=r"BatchNormalization: renorm_clipping rmax should be greater than rmin"):
        sl.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1, "rmin": 2})
    with pytest.raises(ValueError, match=r"LayerNormalization: axis \[3\] is out of range for an input with 3 "
                                         r"dimensions"):
        sl.LayerNormalization(axis=3)(torch.zeros(2, 3, 4))


def test_normalization_layers_load_from_keras_files(tmp_path):
    inp = keras.Input((5, 4))
    h = keras.layers.BatchNormalization(momentum=0.9)(inp)
    h = keras.layers.LayerNormalization(epsilon=1e-5)(h)
    h = keras.layers.LayerNormalization(axis=[1, 2], center=False)(h)
    h = keras.layers.BatchNormalization(axis=1, scale=False)(h)
    out = keras.layers.BatchNormalization(renorm=True, renorm_clipping={"rmax": 2.0})(h)
    ours = keras_file_roundtrip(tmp_path, keras.Model(inp, out), X)
    onnx_roundtrip(ours, tmp_path / "norm.onnx", X)


def test_batch_normalization_takes_numpy_masks_and_a_fully_masked_input():
    bn = sl.BatchNormalization(center=False, scale=False)
    y = bn(torch.zeros(4, 5), mask=np.zeros((4,), "float32"), training=True)
    torch.testing.assert_close(y, torch.zeros(4, 5))
    bn = sl.BatchNormalization(momentum=0.0)
    bn(torch.ones(1, 2, 3, 4), mask=np.ones((1, 2, 1), "float32"), training=True)  # mask broadcast over axis 2
    torch.testing.assert_close(bn.moving_mean, torch.ones(4))
    torch.testing.assert_close(bn.moving_variance, torch.zeros(4))


def test_normalization_weights_take_regularizers_and_prelu_and_mha_too():
    for layer, weight in ((sl.LayerNormalization(gamma_regularizer="l2"), "gamma"),
                          (sl.BatchNormalization(gamma_regularizer="l2"), "gamma"),
                          (sl.PReLU(alpha_regularizer="l2", alpha_initializer="ones"), "alpha")):
        layer(torch.from_numpy(X))
        torch.testing.assert_close(layer.losses[0], 0.01 * getattr(layer, weight).square().sum())
    mha = sl.MultiHeadAttention(2, 3, kernel_regularizer="l1")
    mha(torch.from_numpy(X), torch.from_numpy(X))
    assert len(mha.losses) == 4  # one per projection kernel
