"""Conv1D and SeparableConv1D against Keras 3 (same weights), brute force and Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from tests.layers.checker import check_layer
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip, onnx_roundtrip

X = np.random.default_rng(0).standard_normal((2, 9, 4)).astype("float32")


@pytest.mark.parametrize("kwargs", [
    dict(filters=3, kernel_size=3), dict(filters=3, kernel_size=3, padding="same"),
    dict(filters=3, kernel_size=4, padding="same", strides=2), dict(filters=2, kernel_size=3, padding="causal"),
    dict(filters=2, kernel_size=2, padding="causal", dilation_rate=3), dict(filters=3, kernel_size=2, strides=3),
    dict(filters=4, kernel_size=3, groups=2, activation="relu"), dict(filters=2, kernel_size=(2,), use_bias=False),
    dict(filters=3, kernel_size=3, padding="same", data_format="channels_first"),
])
def test_conv1d_equals_keras(kwargs):
    x = X.transpose(0, 2, 1).copy() if kwargs.get("data_format") == "channels_first" else X
    assert_same_as_keras(sl.Conv1D(**kwargs), keras.layers.Conv1D(**kwargs), x)


@pytest.mark.parametrize("kwargs", [
    dict(filters=3, kernel_size=3), dict(filters=5, kernel_size=2, padding="same", depth_multiplier=2),
    dict(filters=2, kernel_size=3, strides=2, padding="same", activation="tanh"),
    dict(filters=2, kernel_size=2, dilation_rate=2, use_bias=False),
])
def test_separable_conv1d_equals_keras(kwargs):
    assert_same_as_keras(sl.SeparableConv1D(**kwargs), keras.layers.SeparableConv1D(**kwargs), X)


def test_causal_conv_sees_only_the_past_by_brute_force():
    conv = sl.Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False)
    x = torch.randn(1, 8, 2)
    y = conv(x)
    k = conv.kernel.detach()  # (K, F, H)
    for t in range(8):
        want = sum(x[0, t - 2 * (2 - j)] @ k[j] for j in range(3) if t - 2 * (2 - j) >= 0)
        torch.testing.assert_close(y[0, t], torch.as_tensor(want).reshape(1), atol=1e-5, rtol=1e-5)
    x2 = x.clone()
    x2[0, 5:] = 100.0  # changing the future leaves the past alone
    torch.testing.assert_close(conv(x2)[0, :5], y[0, :5])


def test_weights_layout_and_parameter_counts_equal_keras():
    for ours, ref in [(sl.Conv1D(6, 3, groups=2), keras.layers.Conv1D(6, 3, groups=2)),
                      (sl.SeparableConv1D(5, 3, depth_multiplier=2),
                       keras.layers.SeparableConv1D(5, 3, depth_multiplier=2))]:
        ours(torch.zeros(1, 7, 4))
        ref(np.zeros((1, 7, 4), "float32"))
        assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
        assert ours.count_params() == ref.count_params()


@pytest.mark.parametrize("cls,kwargs,out", [
    (sl.Conv1D, dict(filters=3, kernel_size=3, padding="same"), (2, 9, 3)),
    (sl.Conv1D, dict(filters=2, kernel_size=2, strides=2), (2, 4, 2)),
    (sl.SeparableConv1D, dict(filters=3, kernel_size=2, depth_multiplier=2), (2, 8, 3)),
])
def test_conv_layers_pass_the_shared_checker(cls, kwargs, out):
    check_layer(cls, kwargs, (2, 9, 4), out, atol=1e-5)


def test_conv_errors_name_the_argument_and_the_fix():
    with pytest.raises(ValueError, match=r"Conv1D: padding must be one of 'valid', 'same', 'causal', got 'full'"):
        sl.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"SeparableConv1D: padding must be one of 'valid', 'same', got 'causal'"):
        sl.SeparableConv1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"Conv1D: filters \(3\) must be a multiple of groups \(2\)"):
        sl.Conv1D(3, 2, groups=2)
    with pytest.raises(ValueError, match=r"Conv1D: strides > 1 and dilation_rate > 1 cannot be combined"):
        sl.Conv1D(3, 2, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"Conv1D: the input has 2 time steps, fewer than the kernel's span "
                                         r"3.*padding='same'"):
        sl.Conv1D(3, 3)(torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"Conv1D: expected input of shape \(batch, time, features\), got \(2, 4\)"):
        sl.Conv1D(3, 3)(torch.zeros(2, 4))


def test_conv_layers_load_from_keras_files_and_export_to_onnx(tmp_path):
    inp = keras.Input((9, 4))
    h = keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(inp)
    h = keras.layers.SeparableConv1D(3, 2, padding="same", depth_multiplier=2)(h)
    h = keras.layers.Conv1D(2, 2, strides=2, groups=1)(h)
    kmodel = keras.Model(inp, h)
    ours = keras_file_roundtrip(tmp_path, kmodel, X)
    onnx_roundtrip(ours, tmp_path / "conv.onnx", X)


def test_a_kernel_longer_than_a_known_length_is_refused_on_input():
    with pytest.raises(ValueError, match=r"Conv1D: the input has 10 time steps, fewer than the kernel's span 11"):
        sl.Conv1D(1, 2, dilation_rate=10)(sl.Input(shape=(10, 3)))
    assert sl.Conv1D(1, 2, dilation_rate=10)(sl.Input(shape=(None, 3))).shape == (None, None, 1)


def test_conv_weights_take_regularizers_and_constraints():
    conv = sl.Conv1D(3, 2, kernel_regularizer="l2", bias_constraint="non_neg")
    conv(torch.randn(2, 5, 4))
    assert len(conv.losses) == 1
    torch.testing.assert_close(conv.losses[0], 0.01 * conv.kernel.square().sum())
    sep = sl.SeparableConv1D(3, 2, depthwise_regularizer="l1", pointwise_constraint="non_neg")
    sep(torch.randn(2, 5, 4))
    torch.testing.assert_close(sep.losses[0], 0.01 * sep.depthwise_kernel.abs().sum())
