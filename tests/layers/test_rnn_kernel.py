"""rnn_kernel.run: the one recurrent kernel interface takes tensors and returns tensors and the path;
it needs no layer (checked against plain torch modules with the same weights) and its modules import
only downwards."""
import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from seqlayers.layers import rnn_kernel

KERNEL_MODULES = ("rnn_kernel", "rnn_native", "rnn_train", "rnn_op", "rnn_fused", "rnn_loop", "rnn_masks", "rnn_steps")
LAYER_MODULES = {"rnn", "cells", "recurrent", "bidirectional", "base"}


def _imports(name):
    tree = ast.parse((Path(rnn_kernel.__file__).parent / f"{name}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module} if node.module else {a.name for a in node.names}
    return out


@pytest.mark.parametrize("name", KERNEL_MODULES)
def test_kernel_modules_import_no_layer_module(name):
    assert not _imports(name) & LAYER_MODULES


def test_kernel_walk_is_one_way():
    assert _imports("rnn_masks") <= set()  # the bottom
    assert _imports("rnn_steps") <= set()  # the gated step equations, shared with cells.py
    assert _imports("rnn_loop") <= set()
    assert _imports("rnn_train") <= set()
    assert _imports("rnn_fused") <= {"rnn_masks", "rnn_train"}
    assert _imports("rnn_native") <= set()
    assert _imports("rnn_op") <= {"rnn_fused", "rnn_loop", "rnn_masks", "rnn_steps"}
    assert _imports("rnn_kernel") <= {"rnn_native", "rnn_fused", "rnn_loop", "rnn_masks", "rnn_op"}


def _spec(module, kind):
    weights = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    return rnn_kernel.CellSpec(kind, weights, project=None, recur=None)


@pytest.mark.parametrize("cls,kind,n_states", [(nn.LSTM, "lstm", 2), (nn.GRU, "gru", 1), (nn.RNN, "rnn_tanh", 1)])
def test_run_on_plain_torch_weights_equals_the_torch_module(cls, kind, n_states):
    torch.manual_seed(0)
    module = cls(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    states = [torch.randn(2, 4) for _ in range(n_states)]
    (res,) = rnn_kernel.run(x, [rnn_kernel.Direction(_spec(module, kind), states)])
    hx = tuple(s[None] for s in states) if n_states == 2 else states[0][None]
    out, final = module(x, hx)
    final = list(final) if n_states == 2 else [final]
    assert res.path == "fused"  # grad is needed: torch's kernel, not the inference loop
    torch.testing.assert_close(res.sequence, out)
    torch.testing.assert_close(res.last, out[:, -1])
    for a, b in zip(res.states, final):
        torch.testing.assert_close(a, b[0])


def test_two_directions_run_as_one_bidirectional_call_equal_nn_lstm_bidirectional():
    torch.manual_seed(0)
    module = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    fw = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    bw = [module.weight_ih_l0_reverse, module.weight_hh_l0_reverse, module.bias_ih_l0_reverse,
          module.bias_hh_l0_reverse]
    x = torch.randn(2, 5, 3)
    zeros = [torch.zeros(2, 4), torch.zeros(2, 4)]
    directions = [rnn_kernel.Direction(rnn_kernel.CellSpec("lstm", fw, None, None), zeros),
                  rnn_kernel.Direction(rnn_kernel.CellSpec("lstm", bw, None, None), zeros, go_backwards=True,
                                       time_order=True)]
    f, b = rnn_kernel.run(x, directions)
    out, (h, c) = module(x)
    assert f.path == b.path == "fused_bidirectional"
    torch.testing.assert_close(f.joint, out)
    torch.testing.assert_close(torch.cat([f.sequence, b.sequence], -1), out)
    torch.testing.assert_close(torch.stack([f.states[0], b.states[0]]), h)
    torch.testing.assert_close(torch.stack([f.states[1], b.states[1]]), c)


def test_loop_path_with_a_mask_that_is_not_right_padded():
    torch.manual_seed(0)
    module = nn.RNN(3, 4, batch_first=True)
    w_ih, w_hh, b = module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0 + module.bias_hh_l0

    def project(x, _in_mask):
        return x @ w_ih.t() + b

    def recur(xw_t, states, _rec_mask):
        h = torch.tanh(xw_t + states[0] @ w_hh.t())
        return h, [h]

    x = torch.randn(1, 4, 3)
    mask = torch.tensor([[True, False, True, True]])  # a hole: only the loop computes it
    spec = rnn_kernel.CellSpec("rnn_tanh", [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                                            module.bias_hh_l0], project, recur)
    (res,) = rnn_kernel.run(x, [rnn_kernel.Direction(spec, [torch.zeros(1, 4)])], mask=mask)
    assert res.path == "loop"
    kept = module(x[:, [0, 2, 3]])[0]  # the masked step skipped: the state carries over it
    torch.testing.assert_close(res.sequence[:, [0, 2, 3]], kept)
    torch.testing.assert_close(res.sequence[:, 1], kept[:, 0])  # a masked step repeats the previous output
