"""Pooling layers against Keras 3 (masks included), brute force for uneven 'same' windows, and
Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers.layers.base import get_mask
from tests.layers.checker import check_layer
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip

pytestmark = pytest.mark.filterwarnings("ignore:.*does not support masking")  # Keras drops the mask, and says so

X = np.random.default_rng(0).standard_normal((3, 7, 4)).astype("float32")
MASK = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]], dtype=bool)


@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("kwargs", [dict(pool_size=2), dict(pool_size=3), dict(pool_size=3, strides=1, padding="same"),
                                    dict(pool_size=2, strides=2, padding="same"), dict(pool_size=2, strides=1),
                                    dict(pool_size=3, strides=2, data_format="channels_first")])
def test_pooling_equals_keras(name, kwargs):
    x = X.transpose(0, 2, 1).copy() if kwargs.get("data_format") == "channels_first" else X
    assert_same_as_keras(getattr(sl, name)(**kwargs), getattr(keras.layers, name)(**kwargs), x)


@pytest.mark.parametrize("pool,strides", [(4, 1), (4, 3), (2, 1), (5, 2)])
def test_same_padding_windows_use_only_real_steps_by_brute_force(pool, strides):
    x = torch.from_numpy(X)
    T = x.shape[1]
    out_len = -(-T // strides)
    total = max(0, (out_len - 1) * strides + pool - T)
    left = total // 2
    mx = sl.MaxPooling1D(pool, strides, padding="same")(x)
    av = sl.AveragePooling1D(pool, strides, padding="same")(x)
    assert mx.shape == av.shape == (3, out_len, 4)
    for i in range(out_len):
        lo, hi = max(0, i * strides - left), min(T, i * strides - left + pool)
        torch.testing.assert_close(mx[:, i], x[:, lo:hi].amax(1))
        torch.testing.assert_close(av[:, i], x[:, lo:hi].mean(1))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kwargs", [{}, dict(keepdims=True), dict(data_format="channels_first")])
@pytest.mark.parametrize("name", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
def test_global_pooling_equals_keras_with_and_without_mask(name, kwargs, masked):
    x = X.transpose(0, 2, 1).copy() if kwargs.get("data_format") == "channels_first" else X
    mask = MASK if masked and "data_format" not in kwargs else None
    assert_same_as_keras(getattr(sl, name)(**kwargs), getattr(keras.layers, name)(**kwargs), x, masks=mask)


def test_global_average_pooling_averages_only_valid_steps():
    x = torch.from_numpy(X)
    emb_like = x.clone()
    sl.layers.set_mask(emb_like, torch.from_numpy(MASK))
    out = sl.GlobalAveragePooling1D()(emb_like)
    for b in range(3):
        torch.testing.assert_close(out[b], x[b, torch.from_numpy(MASK[b])].mean(0))
    assert get_mask(out) is None
    ids = sl.Input(shape=(None,), dtype="int64")
    model = sl.Model(ids, sl.GlobalAveragePooling1D()(sl.Embedding(9, 3, mask_zero=True)(ids)))
    a = model(torch.tensor([[1, 2, 0, 0]]))
    b = model(torch.tensor([[1, 2]]))
    torch.testing.assert_close(a, b)  # padding changes nothing


@pytest.mark.parametrize("cls,kwargs,out", [
    (sl.MaxPooling1D, dict(pool_size=2), (2, 3, 4)),
    (sl.AveragePooling1D, dict(pool_size=3, padding="same"), (2, 2, 4)),
    (sl.GlobalMaxPooling1D, {}, (2, 4)), (sl.GlobalAveragePooling1D, dict(keepdims=True), (2, 1, 4)),
])
def test_pooling_layers_pass_the_shared_checker(cls, kwargs, out):
    check_layer(cls, kwargs, (2, 6, 4), out)


def test_pooling_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"MaxPooling1D: padding must be one of 'valid', 'same', got 'causal'"):
        sl.MaxPooling1D(padding="causal")
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D: data_format must be 'channels_last'.*got 'nhwc'"):
        sl.GlobalAveragePooling1D(data_format="nhwc")
    with pytest.raises(ValueError, match=r"GlobalMaxPooling1D: expected input of shape \(batch, time, "
                                         r"features\).*return_sequences=True"):
        sl.GlobalMaxPooling1D()(torch.zeros(2, 4))


def test_pooling_layers_load_from_keras_files(tmp_path):
    ids = keras.Input((7,), dtype="int32")
    e = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    avg = keras.layers.GlobalAveragePooling1D()(e)
    mx = keras.layers.GlobalMaxPooling1D(keepdims=True)(keras.layers.MaxPooling1D(3, 1, padding="same")(e))
    ap = keras.layers.AveragePooling1D(2)(e)
    kmodel = keras.Model(ids, [avg, mx, ap])
    x = np.array([[1, 2, 3, 0, 0, 0, 0], [4, 5, 6, 7, 8, 9, 1], [3, 0, 0, 0, 0, 0, 0]], dtype="int32")
    keras_file_roundtrip(tmp_path, kmodel, x)


def test_global_average_pooling_takes_a_numpy_mask():
    x = torch.from_numpy(X)
    torch.testing.assert_close(sl.GlobalAveragePooling1D()(x, mask=MASK),
                               sl.GlobalAveragePooling1D()(x, mask=torch.from_numpy(MASK)))
