"""export_onnx: onnxruntime reproduces the torch model at other batch sizes and lengths."""
import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import seqlayers as sl  # noqa: E402
from seqlayers.layers.bidirectional import Bidirectional  # noqa: E402


def _run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: x.numpy() for n, x in zip(names, feeds)})


def _ops(path):
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def _padded_ids(batch, time, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, time), generator=g)
    for b in range(1, batch):
        ids[b, max(time - b, 1):] = 0  # row b ends with b padded steps (at least one valid step)
    return ids


def test_masked_recurrent_stack_exports_native_rnn_ops(tmp_path):
    model = sl.Sequential([
        sl.Embedding(30, 4, mask_zero=True),
        Bidirectional(sl.LSTM(5, return_sequences=True)),
        sl.GRU(4, return_sequences=True),
        sl.SimpleRNN(3, return_sequences=True),
        sl.Dropout(0.5),
        sl.TimeDistributed(sl.Dense(2, activation="softmax")),
    ])
    model(_padded_ids(2, 3, 30, 0))  # build
    model.train()
    path = sl.export_onnx(model, tmp_path / "tagger.onnx")
    assert model.training  # exported in eval mode, the caller's mode restored
    assert {"LSTM", "GRU", "RNN"} <= _ops(path)
    assert not {"Loop", "Scan"} & _ops(path)
    model.eval()
    for batch, time in ((4, 9), (1, 3)):  # neither is the export's (2, 5)
        ids = _padded_ids(batch, time, 30, seed=batch)
        (got,) = _run(path, [ids])
        np.testing.assert_allclose(got, model(ids).detach().numpy(), atol=1e-5, rtol=0)


def test_functional_two_inputs_two_outputs_with_masking(tmp_path):
    series = sl.Input(shape=(None, 3), name="series")
    static = sl.Input(shape=(4,), name="static")
    h = sl.LSTM(4)(sl.Masking(0.0)(series))
    joined = sl.Concatenate()([h, sl.Dense(4)(static)])
    model = sl.Model([series, static], [joined, sl.Dense(1)(joined)])
    path = sl.export_onnx(model, tmp_path / "two.onnx")
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["series", "static"]
    x = torch.randn(5, 8, 3)
    x[1, 5:] = 0.0  # padded (masked) steps at the end
    s = torch.randn(5, 4)
    model.eval()
    for got, want in zip(_run(path, [x, s]), model([x, s])):
        np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-5, rtol=0)


def test_encoder_decoder_inputs_get_their_own_time_axes(tmp_path):
    ids = sl.Input(shape=(None,), dtype="int64", name="source")
    _, h, c = sl.LSTM(3, return_state=True)(sl.Embedding(9, 3, mask_zero=True)(ids))
    dec = sl.Input(shape=(None, 2), name="target")
    y = sl.TimeDistributed(sl.Dense(2))(sl.LSTM(3, return_sequences=True)(dec, initial_state=[h, c]))
    model = sl.Model([ids, dec], y)
    path = sl.export_onnx(model, tmp_path / "encdec.onnx")
    dims = [[d.dim_param for d in i.type.tensor_type.shape.dim] for i in onnx.load(str(path)).graph.input]
    assert dims == [["batch", "source_time"], ["batch", "target_time", ""]]
    src, tgt = _padded_ids(3, 9, 9, seed=3), torch.randn(3, 4, 2)  # source and target lengths differ
    (got,) = _run(path, [src, tgt])
    np.testing.assert_allclose(got, model([src, tgt]).detach().numpy(), atol=1e-5, rtol=0)


def test_fixed_length_model_keeps_its_length(tmp_path):
    model = sl.Sequential([sl.LSTM(3, return_sequences=True, input_shape=(6, 2)), sl.Flatten(), sl.Dense(2)])
    path = sl.export_onnx(model, tmp_path / "fixed.onnx")
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 6
    x = torch.randn(3, 6, 2)
    np.testing.assert_allclose(_run(path, [x])[0], model(x).detach().numpy(), atol=1e-5, rtol=0)


def test_step_loop_layer_is_refused_with_dynamic_time_and_exports_at_fixed_length(tmp_path):
    model = sl.Sequential([sl.GRU(3, reset_after=False, input_shape=(None, 2))])
    with pytest.raises(ValueError, match=r"GRU 'gru' runs its per-step loop.*dynamic_time=False"):
        sl.export_onnx(model, tmp_path / "loop.onnx")
    assert not (tmp_path / "loop.onnx").exists()
    fixed = sl.Sequential([sl.GRU(3, reset_after=False, input_shape=(5, 2))])
    path = sl.export_onnx(fixed, tmp_path / "loop.onnx", dynamic_time=False)
    x = torch.randn(4, 5, 2)
    np.testing.assert_allclose(_run(path, [x])[0], fixed(x).detach().numpy(), atol=1e-5, rtol=0)


def test_stateful_layer_is_refused(tmp_path):
    model = sl.Sequential([sl.LSTM(3, stateful=True, batch_input_shape=(2, 5, 2))])
    with pytest.raises(ValueError, match=r"LSTM 'lstm' is stateful.*initial_state"):
        sl.export_onnx(model, tmp_path / "s.onnx")


def test_unknown_input_shape_asks_for_example_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"no known input shape; pass example_inputs"):
        sl.export_onnx(sl.Sequential([sl.Dense(2)]), tmp_path / "x.onnx")
    model = sl.Sequential([sl.Dense(2)])
    path = sl.export_onnx(model, tmp_path / "x.onnx", example_inputs=torch.randn(2, 3))
    x = torch.randn(5, 3)
    np.testing.assert_allclose(_run(path, [x])[0], model(x).detach().numpy(), atol=1e-5, rtol=0)


def test_missing_onnx_is_explained(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    with pytest.raises(ImportError, match=r"export_onnx needs onnx.*seqlayers\[interop\]"):
        sl.export_onnx(sl.Sequential([sl.Dense(1, input_shape=(2,))]), tmp_path / "m.onnx")


def test_given_example_inputs_without_padding_still_trace_the_mask(tmp_path):
    model = sl.Sequential([sl.Embedding(9, 3, mask_zero=True), sl.LSTM(3)])
    example = torch.randint(1, 9, (2, 5))  # no padding at all
    path = sl.export_onnx(model, tmp_path / "m.onnx", example_inputs=example)
    assert torch.all(example != 0)  # the caller's tensor is left alone
    ids = _padded_ids(3, 6, 9, seed=0)
    np.testing.assert_allclose(_run(path, [ids])[0], model.eval()(ids).detach().numpy(), atol=1e-5, rtol=0)
