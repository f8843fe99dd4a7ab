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



@pytest.mark.parametrize("shape", [(128, 4, 12), (300, 1), (64, 8, 5), (2, 3, 12), (40, 20)])
@pytest.mark.parametrize("grad", [False, True])
def test_softmax_equals_float64_on_short_and_long_axes(shape, grad):
    # rows of fewer than 16 values take our max/exp/sum path (torch's kernel is scalar there), others torch's
    torch.manual_seed(0)
    x = (torch.randn(*shape) * 30).requires_grad_(grad)
    with torch.no_grad():
        x[..., 0] = -float("inf") if shape[-1] > 1 else x[..., 0]  # a masked logit
    y = get("softmax")(x)
    want = torch.softmax(x.detach().double(), dim=-1)
    torch.testing.assert_close(y.double(), want, atol=2e-7, rtol=1e-6)
    if grad:
        g = torch.randn(*shape)
        (gx,) = torch.autograd.grad(y, x, g)
        xd = x.detach().double().requires_grad_(True)
        (want_gx,) = torch.autograd.grad(torch.softmax(xd, dim=-1), xd, g.double())
        torch.testing.assert_close(gx.double(), want_gx, atol=1e-6, rtol=1e-5)
