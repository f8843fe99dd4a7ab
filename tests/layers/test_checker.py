"""The shared checker's assertions can fail: a deliberately broken layer fails each of them."""
import pytest
import torch

import seqlayers
from seqlayers import Dense
from seqlayers.layers import GRUCell, LSTMCell, SimpleRNNCell

from .checker import check_cell, check_layer
from .test_contract import _torch_cell


@pytest.fixture
def perturbed_load(monkeypatch):
    """``seqlayers.load_model`` that adds 0.5 to every loaded parameter: a save/load that changes the numbers."""
    real_load = seqlayers.load_model

    def load_and_perturb(path, **kwargs):
        model = real_load(path, **kwargs)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5)
        return model

    monkeypatch.setattr(seqlayers, "load_model", load_and_perturb)


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


class ConfigDroppingDense(Dense):
    """get_config drops ``activation``, so from_config rebuilds a linear layer."""

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("activation")
        return cfg


class MaskLosingDense(Dense):
    """Drops the mask of its (batch, time, features) input."""

    def compute_mask(self, inputs, mask=None):
        return None


SEQ = (2, 4, 5)


def test_a_config_dropping_an_argument_fails_the_checker(tmp_path):
    with pytest.raises(AssertionError, match="config round trip"):
        check_layer(ConfigDroppingDense, {"units": 3, "activation": "tanh"}, SEQ, (2, 4, 3), tmp_path=tmp_path)


def test_a_layer_losing_its_mask_fails_the_checker():
    with pytest.raises(AssertionError, match="MaskLosingDense: the input's mask is lost"):
        check_layer(MaskLosingDense, {"units": 3}, SEQ, (2, 4, 3), mask="same")
    check_layer(MaskLosingDense, {"units": 3}, SEQ, (2, 4, 3), mask="none")  # what it does is what it says


def test_a_kept_mask_where_none_is_declared_fails_the_checker():
    with pytest.raises(AssertionError, match="Dense: the output carries a mask"):
        check_layer(Dense, {"units": 3}, SEQ, (2, 4, 3), mask="none")


def test_a_save_load_that_changes_the_numbers_fails_the_checker(tmp_path, perturbed_load):
    with pytest.raises(AssertionError, match="Dense: save/load"):
        check_layer(Dense, {"units": 3}, SEQ, (2, 4, 3), tmp_path=tmp_path)


def test_the_unbroken_layer_passes_every_step(tmp_path):
    check_layer(Dense, {"units": 3, "activation": "tanh"}, SEQ, (2, 4, 3), tmp_path=tmp_path, mask="same")


class StatelessSimpleRNNCell(SimpleRNNCell):
    """Ignores the incoming state: h = tanh(x @ kernel + bias)."""

    def recur(self, xw_t, states, rec_mask=None):
        h = self.activation(xw_t)
        return h, [h]


class SwappedGatesLSTMCell(LSTMCell):
    """Input and forget gates swapped: right shapes and gradients, wrong numbers."""

    def recur(self, xw_t, states, rec_mask=None):
        i, f, g, o = xw_t.chunk(4, dim=1)
        return super().recur(torch.cat([f, i, g, o], dim=1), states, rec_mask)


class ShortStateLSTMCell(LSTMCell):
    """Returns only h as its new states, though state_size says [h, c]."""

    def recur(self, xw_t, states, rec_mask=None):
        h, _ = super().recur(xw_t, states, rec_mask)
        return h, [h]


class ConfigDroppingGRUCell(GRUCell):
    """get_config drops ``activation``, so from_config rebuilds a tanh cell."""

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("activation")
        return cfg


def _lstm_ref(w, x, s):
    return _torch_cell("lstm", w, x, s)


@pytest.mark.parametrize("cls,kwargs,ref,match", [
    (StatelessSimpleRNNCell, {"units": 3}, None, r"StatelessSimpleRNNCell: no gradient for weight_hh"),
    (SwappedGatesLSTMCell, {"units": 3}, _lstm_ref, r"SwappedGatesLSTMCell: reference step"),
    (ShortStateLSTMCell, {"units": 3}, None, r"ShortStateLSTMCell: new states \[\(2, 3\)\], state_size gives"),
    (ConfigDroppingGRUCell, {"units": 3, "activation": "relu"}, None, r"ConfigDroppingGRUCell: config round trip"),
])
def test_a_broken_cell_fails_the_cell_checker(cls, kwargs, ref, match):
    with pytest.raises(AssertionError, match=match):
        check_cell(cls, kwargs, (2, 5), (2, 3), reference=ref)


def test_a_save_load_that_changes_a_cell_fails_the_cell_checker(tmp_path, perturbed_load):
    with pytest.raises(AssertionError, match="LSTMCell: save/load"):
        check_cell(LSTMCell, {"units": 3}, (2, 5), (2, 3), tmp_path=tmp_path)


def test_the_unbroken_cells_pass_the_cell_checker(tmp_path):
    check_cell(LSTMCell, {"units": 3}, (2, 5), (2, 3), reference=_lstm_ref, tmp_path=tmp_path)
    check_cell(GRUCell, {"units": 3}, (2, 5), (2, 3), reference=lambda w, x, s: _torch_cell("gru", w, x, s))
