"""Embedding(weights=[...]) as Keras's: initial vectors given at construction, kept out of the config."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from tests.layers.keras_reference import keras


@pytest.mark.parametrize("wrap", [lambda m: [m], lambda m: m], ids=["list", "matrix"])
def test_embedding_weights_argument_equals_keras(wrap):
    matrix = np.random.default_rng(0).standard_normal((6, 3)).astype("float32")
    ours = sl.Embedding(6, 3, weights=wrap(matrix), mask_zero=True)
    ref = keras.layers.Embedding(6, 3, weights=wrap(matrix), mask_zero=True)
    ids = np.array([[1, 5, 0], [2, 0, 0]])
    np.testing.assert_array_equal(ours(torch.from_numpy(ids)).detach().numpy(),
                                  keras.ops.convert_to_numpy(ref(ids)))
    assert "weights" not in ours.get_config()
    clone = sl.Embedding.from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()


def test_embedding_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"Embedding: set_weights array 0 has shape \(5, 3\), expected \(6, 3\)"):
        sl.Embedding(6, 3, weights=[np.zeros((5, 3), "float32")])
