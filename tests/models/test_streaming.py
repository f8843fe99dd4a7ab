"""Stream (models/streaming.py): one step per call equals the model on the whole sequence, for every
recurrent layer kind, with the native step kernels and without them; reset; the refusals."""
import pytest
import torch

import seqlayers as sl
from seqlayers import native
from seqlayers.models.streaming import Stream
from tests.layers.threads import require_native

RECURRENT = {
    "lstm": lambda: sl.LSTM(12, return_sequences=True),
    "gru": lambda: sl.GRU(12, return_sequences=True),
    "gru_reset_before": lambda: sl.GRU(12, reset_after=False, return_sequences=True),
    "simple_rnn": lambda: sl.SimpleRNN(12, return_sequences=True),
}


def _model(kind, last_sequences=True):
    torch.manual_seed(0)
    return sl.Sequential([sl.Input((None, 3)), sl.Dense(5), RECURRENT[kind](),
                          sl.LSTM(7, return_sequences=last_sequences), sl.Dense(2)])


@pytest.mark.parametrize("use_native", [True, False])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_stream_steps_equal_the_model_on_the_whole_sequence(kind, use_native):
    if use_native:
        require_native()
    model = _model(kind)
    x = torch.randn(2, 9, 3)
    with torch.no_grad():
        want = model(x)  # (2, 9, 2)
    with (native.disabled() if not use_native else torch.no_grad()):
        stream = Stream(model, batch_size=2)
    assert all(s.native == use_native for s in stream._steps if hasattr(s, "native"))
    got = torch.stack([stream.step(x[:, t]) for t in range(9)], dim=1)
    torch.testing.assert_close(got, want, atol=3e-6, rtol=0)
    stream.reset()
    torch.testing.assert_close(stream.step(x[:, 0]), want[:, 0], atol=3e-6, rtol=0)


BLAS_CASES = {
    "lstm": lambda: sl.LSTM(32, return_sequences=True),
    "simple_rnn_tanh": lambda: sl.SimpleRNN(32, return_sequences=True),
    "simple_rnn_relu": lambda: sl.SimpleRNN(32, activation="relu", return_sequences=True),
}


@pytest.mark.parametrize("kind", list(BLAS_CASES))
def test_stream_steps_follow_native_blas_only_as_the_layer_does(kind):
    """With native.BLAS_ONLY the layer's native loop computes the recurrent product with MKL's sgemm instead of
    the AVX-512 kernel (their roundings differ by ~1e-7); the stream's step kernel makes the same choice, so its
    steps equal the layer's output bit for bit under either setting (on a CPU without AVX-512 both run sgemm)."""
    require_native()
    torch.manual_seed(0)
    layer = BLAS_CASES[kind]()
    model = sl.Sequential([sl.Input((None, 20)), layer])
    x = torch.randn(4, 30, 20)
    for blas_only in (True, False):
        native.BLAS_ONLY[0] = blas_only
        try:
            with torch.no_grad():
                want = model(x)  # (4, 30, 32)
            assert layer.last_path == "native"
            stream = Stream(model, batch_size=4)
            got = torch.stack([stream.step(x[:, t]) for t in range(30)], dim=1)
        finally:
            native.BLAS_ONLY[0] = False
        torch.testing.assert_close(got, want, atol=0, rtol=0, msg=f"BLAS_ONLY={blas_only}")


DTYPE_CASES = {"lstm": sl.LSTM, "gru": sl.GRU, "simple_rnn": sl.SimpleRNN}


@pytest.mark.parametrize("units", [12, 320])  # LSTM(320) over F=3: 413,440 weights, which the layer gives torch
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", list(DTYPE_CASES))
def test_stream_runs_the_kernel_the_layer_runs_in_its_dtype_and_equals_it(kind, dtype, units):
    """A float64 model streams in float64 (the native loops are float32 only: it steps through its cells), and an
    LSTM large enough that the layer hands it to torch's kernel steps through its cell too: the stream makes the
    layer's own choice (its last_path) and its steps equal the layer's whole-sequence output, in the model's dtype."""
    require_native()
    torch.manual_seed(0)
    layer = DTYPE_CASES[kind](units, return_sequences=True)
    model = sl.Sequential([sl.Input((None, 3)), layer, sl.Dense(2)]).to(dtype)
    x = torch.randn(2, 5, 3, dtype=dtype)
    with torch.no_grad():
        want = model(x)  # (2, 5, 2)
    stream = Stream(model, batch_size=2)
    assert stream._steps[0].native == layer.last_path.startswith("native"), layer.last_path
    got = torch.stack([stream.step(x[:, t]) for t in range(5)], dim=1)
    assert got.dtype == dtype
    torch.testing.assert_close(got, want, atol=1e-12 if dtype == torch.float64 else 3e-6, rtol=0)


def test_stream_after_return_sequences_false_gives_the_last_output():
    model = _model("gru", last_sequences=False)
    x = torch.randn(1, 6, 3)
    with torch.no_grad():
        want = model(x)  # (1, 2): the output after the last step
    stream = Stream(model)
    for t in range(6):
        got = stream.step(x[:, t])
    torch.testing.assert_close(got, want, atol=3e-6, rtol=0)


def test_stream_refuses_backward_layers_and_wrong_steps():
    backwards = sl.Sequential([sl.Input((None, 3)), sl.LSTM(4, go_backwards=True)])
    with pytest.raises(ValueError, match=r"Stream: LSTM '[a-z_0-9]+' runs backwards in time.*run forwards"):
        Stream(backwards)
    bi = sl.Sequential([sl.Input((None, 3)), sl.Bidirectional(sl.LSTM(4))])
    with pytest.raises(ValueError, match=r"runs backwards in time"):
        Stream(bi)
    with pytest.raises(ValueError, match=r"Stream: batch_size must be a positive int, got 0"):
        Stream(_model("lstm"), batch_size=0)
    stream = Stream(_model("lstm"))
    with pytest.raises(ValueError, match=r"expected one step of shape \(batch_size=1, features\), got \(1, 4, 3\)"):
        stream.step(torch.randn(1, 4, 3))


@pytest.mark.parametrize("head", ["dense", "softmax", "time_distributed", "large", "no_bias"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_dense_after_a_native_recurrent_step_runs_in_its_call(cell, head):
    require_native()
    torch.manual_seed(1)
    units = 1100 if head == "large" else 4  # 2 x 64 x 1100 products: the head through torch's addmm
    dense = sl.Dense(units, activation="softmax" if head == "softmax" else None, use_bias=head != "no_bias")
    recurrent = (sl.LSTM if cell == "lstm" else sl.GRU)(64, return_sequences=True)
    model = sl.Sequential([sl.Input((None, 3)), recurrent,
                           sl.TimeDistributed(dense) if head == "time_distributed" else dense])
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        want = model(x)
    stream = Stream(model, batch_size=2)
    assert len(stream._steps) == 1 and stream._steps[0].head[0] is not None  # one native call per step
    got = torch.stack([stream.step(x[:, t]) for t in range(6)], dim=1)
    torch.testing.assert_close(got, want, atol=3e-6, rtol=0)


@pytest.mark.parametrize("units", [4, 1100])
def test_a_streamed_native_step_stays_float32_under_cpu_autocast(units):
    """Under torch.autocast("cpu") the native step and its head stay float32, small head or large (a
    large head's product had come back bfloat16)."""
    require_native()
    torch.manual_seed(2)
    model = sl.Sequential([sl.Input((None, 3)), sl.LSTM(64, return_sequences=True), sl.Dense(units)])
    x = torch.randn(2, 3)
    want = Stream(model, batch_size=2).step(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = Stream(model, batch_size=2).step(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)
