"""The shared checker's assertions can fail: a deliberately broken layer fails each of them."""
import pytest
import torch

from seqlayers import Dense

from .checker import check_layer


class WrongShapeDense(Dense):
    """compute_output_shape off by one (the output itself is right)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units + 1,)


class ConfigLosingDense(Dense):
    """get_config forgets use_bias, so from_config rebuilds a different layer."""

    def get_config(self):
        cfg = super().get_config()
        cfg["use_bias"] = not cfg["use_bias"]
        return cfg


class DetachedDense(Dense):
    """The bias gets no gradient."""

    def call(self, inputs):
        return inputs @ self.kernel + self.bias.detach()


@pytest.mark.parametrize("cls,match", [
    (WrongShapeDense, r"compute_output_shape gives \(None, 4\), the layer gives \(2, 3\)"),
    (ConfigLosingDense, r""),
    (DetachedDense, r"no gradient for bias"),
])
def test_a_broken_layer_fails_the_checker(cls, match):
    with pytest.raises((AssertionError, ValueError), match=match):
        check_layer(cls, {"units": 3}, (2, 5), (2, 3))


def test_the_unbroken_layer_passes():
    layer, y = check_layer(Dense, {"units": 3}, (2, 5), (2, 3))
    assert isinstance(y, torch.Tensor)
