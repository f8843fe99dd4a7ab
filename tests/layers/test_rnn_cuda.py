"""The CUDA path of the recurrent layers (issue 17 item 6). Every test but the first needs a GPU and is
skipped without one; `make gpu-check` runs this file (and tests/training/test_fit_cuda.py) plus a short
benchmark on a GPU machine. Each compares the CUDA result with the same layer on the CPU (the CPU path is
checked against plain torch and Keras elsewhere) or with plain torch's cuDNN modules, copied weights."""
import copy
import warnings

import pytest
import torch
from torch import nn

from seqlayers import GRU, LSTM, Bidirectional, Embedding, Sequential, SimpleRNN
from seqlayers.layers import rnn_fused

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (run with `make gpu-check`)")
B, T, F, H = 3, 7, 4, 5
PLAIN = {LSTM: nn.LSTM, GRU: nn.GRU, SimpleRNN: nn.RNN}


def test_the_native_cpu_loop_is_never_chosen_off_the_cpu():
    """Runs everywhere: SimpleRNN's C++/TorchScript inference loop applies to CPU tensors only."""
    w = [torch.zeros(H, F), torch.zeros(H, H)]
    with torch.no_grad():
        assert rnn_fused._inference_loop_applies("rnn_tanh", torch.zeros(B, T, F), torch.zeros(B, H), w)
        assert not rnn_fused._inference_loop_applies(
            "rnn_tanh", torch.zeros(B, T, F, device="meta"), torch.zeros(B, H, device="meta"), w)


def _built(layer, x):
    torch.manual_seed(0)
    layer(x)
    return layer


def _strict():
    """Every warning is an error (cuDNN's "weights are not part of single contiguous chunk" included)."""
    catcher = warnings.catch_warnings()
    catcher.__enter__()
    warnings.simplefilter("error")
    return catcher


@needs_cuda
@pytest.mark.parametrize("cls", list(PLAIN))
def test_cudnn_kernel_equals_plain_torch_on_cuda_without_warnings(cls):
    x = torch.randn(B, T, F)
    layer = _built(cls(H, return_sequences=True), x).cuda()
    cell = layer.cell
    ref = PLAIN[cls](F, H, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(cell.weight_ih)
        ref.weight_hh_l0.copy_(cell.weight_hh)
        ref.bias_ih_l0.copy_(cell.bias)
        ref.bias_hh_l0.copy_(cell.bias_hh if cls is GRU else torch.zeros_like(cell.bias))
    ref = ref.cuda()
    xc = x.cuda().requires_grad_()
    catcher = _strict()
    try:
        out = layer(xc)
        out.sum().backward()
    finally:
        catcher.__exit__(None, None, None)
    assert layer.last_path == "fused"
    torch.testing.assert_close(out, ref(x.cuda())[0], rtol=1e-4, atol=1e-5)
    assert all(p.grad is not None and p.grad.is_cuda for p in layer.parameters())


@needs_cuda
@pytest.mark.parametrize("cls", list(PLAIN))
def test_right_padded_masks_on_cuda_equal_the_cpu(cls):
    ids = torch.tensor([[3, 4, 5, 6, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7], [9, 0, 0, 0, 0, 0, 0]])
    torch.manual_seed(1)
    model = Sequential([Embedding(10, F, mask_zero=True), cls(H, return_sequences=True), cls(H)])
    expected = model(ids)
    gpu = copy.deepcopy(model).cuda()
    out = gpu(ids.cuda())
    assert gpu.layers[1].last_path == "fused_padded"
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-4, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_on_cuda_equals_the_cpu_forward_and_backward(masked):
    ids = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    torch.manual_seed(2)
    model = Sequential([Embedding(10, F, mask_zero=masked), Bidirectional(LSTM(H, return_sequences=True)),
                        Bidirectional(GRU(H), merge_mode="sum")])
    expected = model(ids)   # builds it: the copy gets the same weights
    gpu = copy.deepcopy(model).cuda()
    expected.sum().backward()
    out = gpu(ids.cuda())
    out.sum().backward()
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-4, atol=1e-5)
    for (name, p), q in zip(model.named_parameters(), gpu.parameters()):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-3, atol=1e-5, msg=name)


@needs_cuda
def test_stateful_lstm_on_cuda_carries_its_states_like_the_cpu():
    x = torch.randn(2, 4, F)
    cpu = _built(LSTM(H, stateful=True, return_state=True), x[:, :2])
    cpu.reset_states()
    gpu = copy.deepcopy(cpu).cuda()
    for half in (x[:, :2], x[:, 2:]):
        want = cpu(half)
        got = gpu(half.cuda())
        for a, b in zip(got, want):
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-5)
    gpu.reset_states()
    torch.testing.assert_close(gpu(x[:, :2].cuda())[0].cpu(), _fresh_first(cpu, x[:, :2]), rtol=1e-4, atol=1e-5)


def _fresh_first(layer, x):
    layer.reset_states()
    return layer(x)[0]


@needs_cuda
def test_simple_rnn_inference_on_cuda_runs_the_cudnn_kernel_not_the_cpu_loop():
    x = torch.randn(B, T, F)
    layer = _built(SimpleRNN(H), x).cuda().eval()
    with torch.no_grad():
        out = layer(x.cuda())
    assert layer.last_path == "fused"
    assert out.is_cuda
