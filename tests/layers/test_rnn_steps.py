"""The gated step equations (layers/rnn_steps.py) against torch's own cells with the same weights, and with
other activations against the documented equations written out."""
import torch
import torch.nn.functional as F
from torch import nn

from seqlayers.activations import hard_sigmoid
from seqlayers.layers.rnn_steps import gru_step, lstm_step


def _halves(cell, x, h):
    return F.linear(x, cell.weight_ih, cell.bias_ih), F.linear(h, cell.weight_hh, cell.bias_hh)


def test_lstm_step_equals_nn_lstm_cell():
    torch.manual_seed(0)
    cell = nn.LSTMCell(3, 4)
    x, h, c = torch.randn(5, 3), torch.randn(5, 4), torch.randn(5, 4)
    xw, hw = _halves(cell, x, h)
    got_h, got_c = lstm_step(xw + hw, c)
    want_h, want_c = cell(x, (h, c))
    torch.testing.assert_close(got_h, want_h)
    torch.testing.assert_close(got_c, want_c)


def test_gru_step_equals_nn_gru_cell():
    torch.manual_seed(1)
    cell = nn.GRUCell(3, 4)
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    torch.testing.assert_close(gru_step(*_halves(cell, x, h), h), cell(x, h))


def test_steps_use_the_activations_they_are_given():
    torch.manual_seed(2)
    gates, c, h = torch.randn(2, 8), torch.randn(2, 2), torch.randn(2, 2)
    i, f, g, o = gates.chunk(4, dim=-1)
    want_c = hard_sigmoid(f) * c + hard_sigmoid(i) * torch.relu(g)
    got_h, got_c = lstm_step(gates, c, torch.relu, hard_sigmoid)
    torch.testing.assert_close(got_c, want_c)
    torch.testing.assert_close(got_h, hard_sigmoid(o) * torch.relu(want_c))
    xw, hw = torch.randn(2, 6), torch.randn(2, 6)
    r, z = hard_sigmoid(xw[:, :2] + hw[:, :2]), hard_sigmoid(xw[:, 2:4] + hw[:, 2:4])
    want = z * h + (1 - z) * torch.relu(xw[:, 4:] + r * hw[:, 4:])
    torch.testing.assert_close(gru_step(xw, hw, h, torch.relu, hard_sigmoid), want)
