"""seqlayers.activations: every name computes what Keras 3's activation of that name computes (hard_sigmoid is
Keras 3's relu6(x + 3) / 6, also for layers configured with it by Keras 2, e.g. an old LSTM's
recurrent_activation); the grid runs through hard_sigmoid's and relu6's breakpoints."""
import numpy as np
import pytest
import torch

from seqlayers.activations import ACTIVATIONS, get

keras = pytest.importorskip("keras")

X = torch.linspace(-7.0, 7.0, 57).reshape(3, 19)  # steps of 0.25: -3, 3 and 6 are on the grid


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_equals_keras_3s_of_the_same_name(name):
    want = keras.ops.convert_to_numpy(keras.activations.get(name)(X))
    np.testing.assert_allclose(get(name)(X).numpy(), want, rtol=1e-6, atol=1e-6)

