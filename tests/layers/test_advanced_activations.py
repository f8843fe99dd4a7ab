"""LeakyReLU, PReLU, ELU, ReLU and Softmax (with masks) against Keras 3, and from Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers.layers.base import get_mask
from tests.layers.checker import check_layer
from tests.layers.keras_reference import assert_same_as_keras, keras, keras_file_roundtrip

X = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32") * 3
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)


@pytest.mark.parametrize("name,kwargs", [
    ("LeakyReLU", {}), ("LeakyReLU", dict(negative_slope=0.1)), ("ELU", {}), ("ELU", dict(alpha=0.5)),
    ("ReLU", {}), ("ReLU", dict(max_value=1.5)), ("ReLU", dict(negative_slope=0.2)), ("ReLU", dict(threshold=0.5)),
    ("ReLU", dict(max_value=6.0)), ("ReLU", dict(max_value=2.0, negative_slope=0.1, threshold=0.3)),
    ("PReLU", {}), ("PReLU", dict(shared_axes=[1])), ("PReLU", dict(shared_axes=[1, 2])),
    ("Softmax", {}), ("Softmax", dict(axis=1)), ("Softmax", dict(axis=(1, 2))),
])
def test_activation_layers_equal_keras_and_pass_the_mask(name, kwargs):
    # (Softmax reads a mask as positions to hide in its own input: tested below)
    mask = None if name == "Softmax" else MASK
    assert_same_as_keras(getattr(sl, name)(**kwargs), getattr(keras.layers, name)(**kwargs), X, masks=mask)


def test_softmax_with_a_mask_equals_keras_and_gives_masked_positions_zero():
    scores = np.random.default_rng(1).standard_normal((2, 3, 5)).astype("float32")
    key_mask = MASK[:, None, :]  # (B, 1, S): hide padded keys
    ours, ref = sl.Softmax(), keras.layers.Softmax()
    mine = ours(torch.from_numpy(scores), mask=torch.from_numpy(key_mask))
    theirs = ref(scores, mask=key_mask)
    np.testing.assert_allclose(mine.numpy(), keras.ops.convert_to_numpy(theirs), atol=1e-6)
    assert float(mine[0, :, 3:].abs().max()) == 0.0
    torch.testing.assert_close(mine.sum(-1), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"Softmax: the mask must broadcast to the input.*got mask \(2, 4\) for input "
                                         r"\(2, 3, 5\)"):
        ours(torch.from_numpy(scores), mask=torch.ones(2, 4, dtype=torch.bool))


def test_leaky_relu_accepts_the_old_alpha_name_and_prelu_weights_match_keras():
    layer = sl.LeakyReLU(alpha=0.2)
    assert layer.negative_slope == 0.2 and layer.get_config()["negative_slope"] == 0.2
    ours, ref = sl.PReLU(shared_axes=[1]), keras.layers.PReLU(shared_axes=[1])
    ours(torch.zeros(2, 5, 4))
    ref(np.zeros((2, 5, 4), "float32"))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in ref.get_weights()] == [(1, 4)]


@pytest.mark.parametrize("cls,kwargs", [(sl.LeakyReLU, {}), (sl.PReLU, dict(shared_axes=[1])), (sl.ELU, {}),
                                        (sl.ReLU, dict(max_value=1.0)), (sl.Softmax, {})])
def test_activation_layers_pass_the_shared_checker(cls, kwargs):
    check_layer(cls, kwargs, (2, 5, 4), (2, 5, 4))


def test_activation_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"LeakyReLU: negative_slope must be a non-negative number, got -1"):
        sl.LeakyReLU(-1)
    with pytest.raises(ValueError, match=r"ReLU: max_value must be a non-negative number, got -1"):
        sl.ReLU(max_value=-1)
    with pytest.raises(ValueError, match=r"PReLU: shared_axes must be axes after the batch axis.*got \[0\]"):
        sl.PReLU(shared_axes=[0])


def test_activation_layers_load_from_keras_files(tmp_path):
    ids = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(9, 4, mask_zero=True)(ids)
    h = keras.layers.PReLU(shared_axes=[1])(keras.layers.LeakyReLU(0.1)(h))
    h = keras.layers.ReLU(max_value=1.0, threshold=0.1)(keras.layers.ELU(0.7)(h))
    out = keras.layers.LSTM(3)(h)  # the mask reached the LSTM
    scores = keras.Input((3, 5))
    probs = keras.layers.Softmax(axis=1)(scores)
    x = [np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], dtype="int32"),
         np.random.default_rng(3).standard_normal((2, 3, 5)).astype("float32")]
    ours = keras_file_roundtrip(tmp_path, keras.Model([ids, scores], [h, out, probs]), x)
    assert get_mask(ours([torch.from_numpy(a) for a in x])[0]) is not None


def test_weightless_layers_are_built_at_construction_unless_build_is_overridden():
    for cls in (sl.LeakyReLU, sl.ELU, sl.ReLU, sl.Softmax, sl.GaussianNoise, sl.GaussianDropout):
        args = (0.1,) if cls in (sl.GaussianNoise, sl.GaussianDropout) else ()
        assert cls(*args).built

        class WithBuild(cls):
            def build(self, input_shape):
                pass

        assert not WithBuild(*args).built
