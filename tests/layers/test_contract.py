"""Every registered public layer passes the shared checker (forward, backward, config and save/load round
trips, symbolic shapes, mask propagation), and a registered public layer missing from the table fails."""
import pytest
import torch

import seqlayers.layers as L
from seqlayers.layers import LAYER_REGISTRY

from .checker import check_cell, check_layer

B, T, F = 2, 4, 3
SEQ = (B, T, F)
# name: (kwargs or a function returning them, input shape(s), expected output shape(s), extra check_layer args)
CASES = {
    "Activation": ({"activation": "tanh"}, SEQ, SEQ, {"mask": "same"}),
    "Add": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "Subtract": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "Multiply": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "Average": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "Maximum": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "Minimum": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "Concatenate": ({"axis": -1}, [SEQ, SEQ], (B, T, 2 * F), {"mask": "same"}),
    "Dot": ({"axes": -1}, [(B, F), (B, F)], (B, 1), {}),
    "Attention": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "AdditiveAttention": ({}, [SEQ, SEQ], SEQ, {"mask": "same"}),
    "MultiHeadAttention": ({"num_heads": 2, "key_dim": 2}, [SEQ, SEQ], SEQ, {"unpack": True}),
    "AveragePooling1D": ({"pool_size": 2}, SEQ, (B, 2, F), {}),
    "MaxPooling1D": ({"pool_size": 2}, SEQ, (B, 2, F), {}),
    "GlobalAveragePooling1D": ({}, SEQ, (B, F), {"mask": "none"}),
    "GlobalMaxPooling1D": ({}, SEQ, (B, F), {"mask": "none"}),
    "BatchNormalization": ({}, SEQ, SEQ, {"mask": "same"}),
    "LayerNormalization": ({}, SEQ, SEQ, {"mask": "same"}),
    "Bidirectional": (lambda: {"layer": L.LSTM(2, return_sequences=True)}, SEQ, (B, T, 4), {"mask": "same"}),
    "Conv1D": ({"filters": 2, "kernel_size": 2}, SEQ, (B, 3, 2), {}),
    "SeparableConv1D": ({"filters": 2, "kernel_size": 2}, SEQ, (B, 3, 2), {}),
    "Cropping1D": ({"cropping": (1, 1)}, SEQ, (B, 2, F), {}),
    "ZeroPadding1D": ({"padding": 1}, SEQ, (B, 6, F), {}),
    "UpSampling1D": ({"size": 2}, SEQ, (B, 8, F), {}),
    "Dense": ({"units": 2}, SEQ, (B, T, 2), {"mask": "same"}),
    "Dropout": ({"rate": 0.5}, SEQ, SEQ, {"mask": "same"}),
    "GaussianDropout": ({"rate": 0.5}, SEQ, SEQ, {"mask": "same"}),
    "GaussianNoise": ({"stddev": 0.5}, SEQ, SEQ, {"mask": "same"}),
    "SpatialDropout1D": ({"rate": 0.5}, SEQ, SEQ, {"mask": "same"}),
    "ELU": ({}, SEQ, SEQ, {"mask": "same"}),
    "LeakyReLU": ({}, SEQ, SEQ, {"mask": "same"}),
    "PReLU": ({}, SEQ, SEQ, {"mask": "same"}),
    "ReLU": ({}, SEQ, SEQ, {"mask": "same"}),
    "Softmax": ({}, (B, T), (B, T), {"mask": "same"}),  # its mask must broadcast to the input (as Keras)
    "Embedding": ({"input_dim": 5, "output_dim": 2, "mask_zero": True}, (B, T), (B, T, 2), {"int_vocab": 5}),
    "Masking": ({"mask_value": 0.0}, SEQ, SEQ, {}),
    "Flatten": ({}, SEQ, (B, T * F), {}),
    "Permute": ({"dims": (2, 1)}, SEQ, (B, F, T), {}),
    "RepeatVector": ({"n": 3}, (B, F), (B, 3, F), {}),
    "Reshape": ({"target_shape": (F, T)}, SEQ, (B, F, T), {}),
    "Lambda": ({"function": torch.tanh, "output_shape": (T, F)}, SEQ, SEQ, {}),
    "CRF": ({}, SEQ, (B, T), {"mask": "same"}),  # eval mode: the Viterbi tags (no gradient to check)
    "SimpleRNN": ({"units": 2}, SEQ, (B, 2), {"mask": "none"}),
    "GRU": ({"units": 2, "return_sequences": True}, SEQ, (B, T, 2), {"mask": "same"}),
    "LSTM": ({"units": 2, "return_sequences": True}, SEQ, (B, T, 2), {"mask": "same"}),
    "RNN": (lambda: {"cell": L.LSTMCell(2)}, SEQ, (B, 2), {"mask": "none"}),
    # cells: one step cell(x_t, states) from (B, F), checked by check_cell against torch.nn's cells
    "SimpleRNNCell": ({"units": 2}, (B, F), (B, 2), {"cell": "rnn"}),
    "GRUCell": ({"units": 2}, (B, F), (B, 2), {"cell": "gru"}),
    "LSTMCell": ({"units": 2}, (B, F), (B, 2), {"cell": "lstm"}),
    "StackedRNNCells": (lambda: {"cells": [L.GRUCell(3), L.LSTMCell(2)]}, (B, F), (B, 2), {"cell": "gru+lstm"}),
    "TimeDistributed": (lambda: {"layer": L.Dense(2)}, SEQ, (B, T, 2), {"mask": "same"}),
    "Wrapper": (lambda: {"layer": L.Dense(2)}, SEQ, (B, T, 2), {"mask": "same"}),
    "TimeDistributedDense": ({"units": 2}, SEQ, (B, T, 2), {"mask": "same"}),
    "FoldIntoBatch": ({}, SEQ, (B * T, F), {}),
    "UnfoldFromBatch": ({"size": 2}, SEQ, (1, 2, T, F), {}),
    "PositionEmbedding": ({"sequence_length": T, "output_dim": 2}, SEQ, (B, T, 2), {"input_grad": False}),
    "InstanceNormalization": ({"affine": True}, SEQ, SEQ, {}),
    "InverseInstanceNormalization": ({}, [SEQ, (B, 1, F), (B, 1, F)], SEQ, {}),
}


def _torch_stack(kinds, weights, x, states):
    """A stack of torch cells (each fed the previous one's output); states flat, in order."""
    new = []
    for kind in kinds:
        n = 2 if kind == "lstm" else 1
        x, out = _torch_cell(kind, weights[:3], x, states[:n])
        weights, states = weights[3:], states[n:]
        new.extend(out)
    return x, new


def _torch_cell(kind, weights, x, states):
    """One step of torch.nn.RNNCell / GRUCell / LSTMCell given Keras-layout weights [kernel, recurrent, bias]."""
    kernel, recurrent, bias = (torch.as_tensor(w) for w in weights)
    F_, H = kernel.shape[0], recurrent.shape[0]
    if kind == "gru":  # Keras gate order z, r, h; torch r, z, n; bias (2, 3H): input and recurrent
        def order(w):
            z, r, h = w.chunk(3, dim=-1)
            return torch.cat([r, z, h], dim=-1)
        kernel, recurrent, b_ih, b_hh = order(kernel), order(recurrent), order(bias[0]), order(bias[1])
    else:  # Keras's i, f, c, o is torch's i, f, g, o; one bias
        b_ih, b_hh = bias, torch.zeros_like(bias)
    ref = {"rnn": torch.nn.RNNCell, "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}[kind](F_, H)
    with torch.no_grad():
        ref.weight_ih.copy_(kernel.t())
        ref.weight_hh.copy_(recurrent.t())
        ref.bias_ih.copy_(b_ih)
        ref.bias_hh.copy_(b_hh)
        if kind == "lstm":
            h, c = ref(x, (states[0], states[1]))
            return h, [h, c]
        h = ref(x, states[0])
    return h, [h]


def public_layers():
    """Every layer seqlayers loads by name (LAYER_REGISTRY) that seqlayers.layers exports, models aside."""
    return sorted(name for name, cls in LAYER_REGISTRY.items()
                  if cls.__module__.startswith("seqlayers.layers.") and not name.startswith("_")
                  and getattr(L, name, None) is cls)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_contract(name, tmp_path):
    kwargs, input_shape, output_shape, extra = CASES[name]
    if "cell" in extra:
        kind = extra["cell"]
        check_cell(LAYER_REGISTRY[name], kwargs, input_shape, output_shape, tmp_path=tmp_path,
                   reference=lambda w, x, s: _torch_stack(kind.split("+"), w, x, s))
        return
    check_layer(LAYER_REGISTRY[name], kwargs, input_shape, output_shape, tmp_path=tmp_path, **extra)


def test_every_registered_public_layer_has_a_case():
    missing = sorted(set(public_layers()) - set(CASES))
    assert not missing, f"public layers with no entry in CASES of tests/layers/test_contract.py: {missing}"


def test_the_table_names_only_registered_public_layers():
    assert not sorted(set(CASES) - set(public_layers()))


def test_the_enumeration_sees_the_layers():
    names = public_layers()
    assert {"Dense", "LSTM", "Embedding", "Bidirectional", "Conv1D"} <= set(names) and len(names) >= 45


def test_a_new_public_layer_without_a_case_is_reported(monkeypatch):
    class Brand(L.Dense):
        pass

    Brand.__module__ = "seqlayers.layers.brand"
    monkeypatch.setitem(LAYER_REGISTRY, "Brand", Brand)
    monkeypatch.setattr(L, "Brand", Brand, raising=False)
    with pytest.raises(AssertionError, match=r"no entry in CASES.*: \['Brand'\]"):
        test_every_registered_public_layer_has_a_case()
