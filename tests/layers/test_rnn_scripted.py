"""SimpleRNN's inference kernels (rnn_fused.py): the native C++ loop and the TorchScript loop both
equal torch's rnn_tanh / rnn_relu (1e-6) and the exact step loop."""
import contextlib
import shutil

import pytest
import torch
from torch import nn

from seqlayers import SimpleRNN, native
from tests.layers.threads import torch_threads


@pytest.fixture(params=["native", "native-blas", "scripted"])
def kernel(request):
    """Run the test with the native loop (its AVX-512 recurrence where the CPU has it, and MKL's
    sgemm), built here if needed, and once with it switched off (the TorchScript loop)."""
    if request.param.startswith("native"):
        if shutil.which("c++") is None and shutil.which("g++") is None:
            pytest.skip("no C++ compiler: the native loop cannot be built here")
        native.build()  # `make install` built it already; compiles (~1 min) only if it did not
        yield "native", native.blas_only if request.param == "native-blas" else contextlib.nullcontext
    else:
        yield "scripted", native.disabled

# (B, T, F, H): B=1, T=1, F > 16 (the input projection by sgemm), B = 11 and 13 rows (groups of
# 6 + 5 and 5 + 4 + 4) with H = 40, 70 and 90 columns (a panel of 3 quarters, the last masked; a full
# panel then one of a single masked quarter, or of 2 quarters, the second masked), F = 1 and 20 at H = 70
SHAPES = [(1, 1, 1, 3), (1, 6, 2, 4), (4, 1, 3, 5), (3, 9, 2, 7), (2, 4, 20, 6), (11, 5, 2, 40), (13, 3, 1, 70),
          (7, 2, 20, 70), (5, 3, 2, 90)]


def _reference(layer, x):
    """``nn.RNN`` with the layer's weights, run in processing order: ``(out (B, T, H), h (B, H))``."""
    cell = layer.cell
    F_, H = x.shape[-1], cell.units
    rnn = nn.RNN(F_, H, nonlinearity=cell.kernel_name[4:], batch_first=True)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(cell.weight_ih)
        rnn.weight_hh_l0.copy_(cell.weight_hh)
        rnn.bias_ih_l0.copy_(cell.bias)
        rnn.bias_hh_l0.zero_()
        out, h = rnn(x.flip(1) if layer.go_backwards else x)
    return out, h[0]


def _close(a, b):
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_inference_kernel_equals_nn_rnn(kernel, shape, activation, go_backwards):
    name, context = kernel
    B, T, F_, H = shape
    torch.manual_seed(0)
    layer = SimpleRNN(H, activation=activation, return_sequences=True, return_state=True,
                      go_backwards=go_backwards, bias_initializer="random_normal")
    x = torch.randn(B, T, F_)
    with torch.no_grad(), context():
        out, h = layer(x)
    assert layer.last_path == name
    ref_out, ref_h = _reference(layer, x)
    _close(out, ref_out)
    _close(h, ref_h)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_nan_in_the_input_stays_nan_as_in_nn_rnn(kernel, activation):
    """A diverged step shows as NaN (relu(NaN) is NaN in torch), not as finite values."""
    name, context = kernel
    torch.manual_seed(0)
    layer = SimpleRNN(6, activation=activation, return_sequences=True, return_state=True)
    x = torch.randn(3, 5, 2)
    x[1, 2, 0] = float("nan")
    with torch.no_grad(), context():
        out, h = layer(x)
    ref_out, ref_h = _reference(layer, x)
    assert layer.last_path == name
    assert torch.equal(out.isnan(), ref_out.isnan()) and torch.equal(h.isnan(), ref_h.isnan())
    assert out.isnan().any()


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_inference_kernel_right_padded_equals_vf_and_loop(kernel, go_backwards, zero_output_for_mask,
                                                          return_sequences):
    name, context = kernel
    B, T, F_, H = 4, 5, 3, 4
    torch.manual_seed(1)
    kw = dict(return_sequences=return_sequences, return_state=True, go_backwards=go_backwards,
              zero_output_for_mask=zero_output_for_mask, bias_initializer="random_normal")
    layer, loop = SimpleRNN(H, **kw), SimpleRNN(H, **kw)
    x = torch.randn(B, T, F_)
    mask = torch.arange(T)[None, :] < torch.tensor([5, 3, 0, 1])[:, None]  # right-padded, one empty row
    init = [torch.randn(B, H)]
    layer(x, initial_state=init)
    loop(x, initial_state=init)
    loop.set_weights(layer.get_weights())
    loop._allow_fused = False
    with torch.no_grad(), context():
        scripted = layer(x, mask=mask, initial_state=init)
        assert layer.last_path == f"{name}_padded"
        expected = loop(x, mask=mask, initial_state=init)
    vf = layer(x, mask=mask, initial_state=init)  # grad enabled, parameters require grad: _VF
    assert layer.last_path == "fused_padded"
    for a, b, c in zip(scripted, vf, expected):
        _close(a, b.detach())
        _close(a, c)


def test_scripted_kernel_not_taken_when_grad_is_needed():
    layer = SimpleRNN(4, return_sequences=True)
    x = torch.randn(2, 5, 3)
    layer(x)  # parameters require grad
    assert layer.last_path == "fused"
    layer.requires_grad_(False)
    layer(x.requires_grad_(True))  # the input requires grad
    assert layer.last_path == "fused"
    with native.disabled():
        layer(x.detach())  # nothing requires grad, even with grad mode on
        assert layer.last_path == "scripted"
        with torch.inference_mode():
            layer(x)
        assert layer.last_path == "scripted"


def test_scripted_kernel_not_taken_while_tracing():
    layer = SimpleRNN(4, return_sequences=True).eval()
    x = torch.randn(2, 5, 3)
    layer(x)
    with torch.no_grad():
        traced = torch.jit.trace(layer, (x,), check_trace=False)
    assert layer.last_path == "fused"
    assert "rnn_tanh" in str(traced.graph)


@pytest.mark.parametrize("blas_only", [False, True])
def test_native_loop_on_a_long_sequence_equals_nn_rnn(blas_only):
    """W4's shape (T=700, H=200): the approximate tanh's error (<= 2.7e-7 a step) does not grow."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler: the native loop cannot be built here")
    native.build()
    torch.manual_seed(0)
    layer = SimpleRNN(200, return_sequences=True, return_state=True).eval()
    x = torch.randn(16, 700, 1)
    with torch.no_grad(), (native.blas_only() if blas_only else contextlib.nullcontext()):
        out, h = layer(x)
    assert layer.last_path == "native"
    ref_out, ref_h = _reference(layer, x)
    torch.testing.assert_close(out, ref_out, atol=2e-6, rtol=0)
    torch.testing.assert_close(h, ref_h, atol=2e-6, rtol=0)


def test_native_status_says_why():
    assert native.status().startswith("native kernels: ")
    with native.disabled():
        assert "switched off" in native.status() or "not in use" in native.status()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_native_loop_on_two_threads_equals_one_thread(activation):
    """Two torch threads: the batch's halves run at once (above 2^21 multiply-adds), each on one thread."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler: the native loop cannot be built here")
    native.build()
    torch.manual_seed(6)
    layer = SimpleRNN(64, activation=activation, return_sequences=True, return_state=True)
    x = torch.randn(32, 40, 8)
    results = []
    for threads in (1, 2):
        with torch_threads(threads):
            with torch.no_grad():
                results.append(layer(x))
    assert layer.last_path == "native"
    ref_out, ref_h = _reference(layer, x)
    for out, h in results:
        _close(out, ref_out)
        _close(h, ref_h)
