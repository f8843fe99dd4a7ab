"""InstanceNormalization / InverseInstanceNormalization against numpy (RevIN's arithmetic), the inverse
round trip with the affine part, subtract-last, errors."""
import numpy as np
import pytest
import torch

from seqlayers import Input, Model
from seqlayers.layers import InstanceNormalization, InverseInstanceNormalization


def test_mean_and_std_over_time_per_sample_and_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(4, 10, 3)).astype(np.float32)
    z, loc, scale = InstanceNormalization(return_statistics=True)(torch.as_tensor(x))
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(loc.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(scale.numpy(), std, rtol=1e-5)
    np.testing.assert_allclose(z.numpy(), (x - mean) / std, rtol=1e-4, atol=1e-5)


def test_subtract_last_without_scale_is_nlinear_normalisation():
    x = torch.randn(2, 6, 3)
    z = InstanceNormalization(location="last", scale=False)(x)
    torch.testing.assert_close(z, x - x[:, -1:])


def test_the_inverse_undoes_the_normalisation_with_the_affine_part():
    torch.manual_seed(0)
    inp = Input(shape=(8, 3))
    norm = InstanceNormalization(affine=True, return_statistics=True)
    z, loc, scale = norm(inp)
    model = Model(inp, [z, InverseInstanceNormalization()([z, loc, scale])])
    with torch.no_grad():
        norm.gamma.copy_(torch.tensor([0.5, 2.0, -1.5]))
        norm.beta.copy_(torch.tensor([1.0, 0.0, -3.0]))
    x = torch.randn(4, 8, 3) * 5 + 2
    z, back = model(x)
    torch.testing.assert_close(back, x, rtol=1e-4, atol=1e-4)
    ref = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(z, ref * norm.gamma + norm.beta, rtol=1e-4, atol=1e-4)


def test_inverse_maps_a_forecast_of_another_length():
    y, loc, scale = torch.randn(2, 5, 3), torch.randn(2, 1, 3), torch.rand(2, 1, 3) + 0.5
    torch.testing.assert_close(InverseInstanceNormalization()([y, loc, scale]), y * scale + loc)


def test_statistics_carry_no_gradient_like_revin():
    x = torch.randn(2, 5, 1, requires_grad=True)
    _, loc, scale = InstanceNormalization(return_statistics=True)(x)
    assert not loc.requires_grad and not scale.requires_grad


def test_errors():
    with pytest.raises(ValueError, match=r"InstanceNormalization: location must be 'mean', 'last' or None, got "
                                         r"'median'"):
        InstanceNormalization(location="median")
    with pytest.raises(ValueError, match=r"expected three inputs \[y, loc, scale\], got Tensor\. Pass the outputs "
                                         r"of InstanceNormalization\(return_statistics=True\)"):
        InverseInstanceNormalization()(torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, time, features\)"):
        InstanceNormalization()(torch.zeros(2, 3))
