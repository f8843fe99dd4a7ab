"""UpSampling1D, ZeroPadding1D, Cropping1D, Permute and Flatten(data_format) against Keras 3 and from
Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from tests.layers.checker import check_layer
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip

X = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")


@pytest.mark.parametrize("name,kwargs", [
    ("UpSampling1D", {}), ("UpSampling1D", dict(size=3)), ("ZeroPadding1D", {}),
    ("ZeroPadding1D", dict(padding=(2, 0))),
    ("ZeroPadding1D", dict(padding=(1, 2), data_format="channels_first")), ("Cropping1D", {}),
    ("Cropping1D", dict(cropping=(0, 2))), ("Cropping1D", dict(cropping=2)), ("Permute", dict(dims=(2, 1))),
    ("Flatten", {}), ("Flatten", dict(data_format="channels_first")),
])
def test_reshaping_layers_equal_keras(name, kwargs):
    assert_same_as_keras(getattr(sl, name)(**kwargs), getattr(keras.layers, name)(**kwargs), X)


def test_flatten_channels_first_on_4d_and_1d_equal_keras():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype("float32")
    assert_same_as_keras(sl.Flatten(data_format="channels_first"), keras.layers.Flatten(data_format="channels_first"),
                         x)
    assert_same_as_keras(sl.Permute((3, 1, 2)), keras.layers.Permute((3, 1, 2)), x)
    assert sl.Flatten()(torch.zeros(4)).shape == (4, 1)


def test_upsampling_repeats_each_step_and_cropping_undoes_padding():
    x = torch.from_numpy(X)
    up = sl.UpSampling1D(2)(x)
    torch.testing.assert_close(up[:, ::2], x)
    torch.testing.assert_close(up[:, 1::2], x)
    torch.testing.assert_close(sl.Cropping1D((2, 1))(sl.ZeroPadding1D((2, 1))(x)), x)


@pytest.mark.parametrize("cls,kwargs,out", [
    (sl.UpSampling1D, dict(size=2), (2, 10, 3)), (sl.ZeroPadding1D, dict(padding=(1, 2)), (2, 8, 3)),
    (sl.Cropping1D, dict(cropping=(1, 1)), (2, 3, 3)), (sl.Permute, dict(dims=(2, 1)), (2, 3, 5)),
    (sl.Flatten, dict(data_format="channels_first"), (2, 15)),
])
def test_reshaping_layers_pass_the_shared_checker(cls, kwargs, out):
    check_layer(cls, kwargs, (2, 5, 3), out)


def test_reshaping_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"Permute: dims must be a permutation of 1..2.*got \(0, 1\)"):
        sl.Permute((0, 1))
    with pytest.raises(ValueError,
                       match=r"Cropping1D: cropping must be a non-negative integer or a pair.*got \(1, -1\)"):
        sl.Cropping1D((1, -1))
    with pytest.raises(ValueError, match=r"Cropping1D: expected more than 5 time steps to crop \(2, 3\), got \(2, 5, "
                                         r"3\)"):
        sl.Cropping1D((2, 3))(torch.zeros(2, 5, 3))
    with pytest.raises(TypeError, match=r"UpSampling1D: size must be an integer, got float 2.0"):
        sl.UpSampling1D(2.0)


def test_reshaping_layers_load_from_keras_files(tmp_path):
    inp = keras.Input((5, 3))
    h = keras.layers.UpSampling1D(2)(inp)
    h = keras.layers.ZeroPadding1D((1, 2))(h)
    h = keras.layers.Cropping1D((2, 1))(h)
    h = keras.layers.Permute((2, 1))(h)
    out = keras.layers.Flatten(data_format="channels_first")(h)
    keras_file_roundtrip(tmp_path, keras.Model(inp, out), X)


def test_reshape_refuses_negative_sizes_other_than_one_minus_one():
    with pytest.raises(ValueError, match=r"Reshape: every entry of target_shape must be a non-negative integer, "
                                         r"or -1 for one unknown size, got target_shape=\(-2, 5\)"):
        sl.Reshape(target_shape=(-2, 5))
    with pytest.raises(ValueError, match=r"Reshape: at most one entry of target_shape may be -1, got \(-1, -1, 5\)"):
        sl.Reshape(target_shape=(-1, -1, 5))
