"""SpatialDropout1D, GaussianNoise and GaussianDropout: identity in inference (as Keras), their
statistics in training, and from Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers.layers.base import get_mask
from tests.layers.checker import check_layer
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip

X = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)


@pytest.mark.parametrize("name,kwargs", [("SpatialDropout1D", dict(rate=0.5)), ("GaussianNoise", dict(stddev=0.3)),
                                         ("GaussianDropout", dict(rate=0.4))])
def test_inference_is_the_identity_as_in_keras_and_the_mask_passes(name, kwargs):
    mine, masks = assert_same_as_keras(getattr(sl, name)(**kwargs), getattr(keras.layers, name)(**kwargs), X,
                                       masks=MASK if name != "SpatialDropout1D" else None)
    np.testing.assert_array_equal(mine[0], X)


def test_spatial_dropout_drops_whole_features_at_every_step():
    torch.manual_seed(0)
    layer = sl.SpatialDropout1D(0.5).train()
    y = layer(torch.ones(64, 10, 8))
    per_feature = y[:, :1, :]
    assert torch.equal(y, per_feature.expand_as(y))  # the same decision at every step
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert 0.35 < float((y == 0).float().mean()) < 0.65


def test_gaussian_noise_and_dropout_statistics_in_training():
    torch.manual_seed(0)
    x = torch.ones(200, 50, 4)
    noisy = sl.GaussianNoise(0.3)(x, training=True) - x
    assert abs(float(noisy.mean())) < 0.01 and abs(float(noisy.std()) - 0.3) < 0.01
    mult = sl.GaussianDropout(0.2)(x, training=True)
    assert abs(float(mult.mean()) - 1.0) < 0.01 and abs(float(mult.std()) - 0.5) < 0.01  # sqrt(0.2 / 0.8)
    m = torch.from_numpy(MASK)
    t = torch.from_numpy(X)
    sl.layers.set_mask(t, m)
    assert torch.equal(get_mask(sl.GaussianNoise(0.1)(t, training=True)), m)


@pytest.mark.parametrize("cls,kwargs", [(sl.SpatialDropout1D, dict(rate=0.3)), (sl.GaussianNoise, dict(stddev=0.1)),
                                        (sl.GaussianDropout, dict(rate=0.1))])
def test_regularization_layers_pass_the_shared_checker(cls, kwargs):
    check_layer(cls, kwargs, (2, 5, 4), (2, 5, 4))


def test_regularization_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"GaussianNoise: stddev must be a number in \[0, 1\], got 2"):
        sl.GaussianNoise(2)
    with pytest.raises(ValueError, match=r"SpatialDropout1D: expected input of shape \(batch, time, features\), got "
                                         r"\(2, 4\)"):
        sl.SpatialDropout1D(0.1)(torch.zeros(2, 4))


def test_regularization_layers_load_from_keras_files(tmp_path):
    inp = keras.Input((5, 4))
    h = keras.layers.SpatialDropout1D(0.3)(inp)
    h = keras.layers.GaussianDropout(0.2)(keras.layers.GaussianNoise(0.1)(h))
    out = keras.layers.Dense(2)(h)
    ours = keras_file_roundtrip(tmp_path, keras.Model(inp, out), X)
    assert {"SpatialDropout1D", "GaussianNoise", "GaussianDropout"} <= {type(lyr).__name__ for lyr in ours.layers}
