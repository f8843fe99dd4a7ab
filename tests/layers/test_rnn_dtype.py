"""dtype moves on built recurrent layers (issue 17): .double(), .half(), .bfloat16(), .to(dtype) work on
the next call, forward and backward; the layer's dtype follows; the fused kernels run; float64 equals
plain nn.LSTM / nn.GRU / nn.RNN in float64 with copied weights to 1e-10."""
import pytest
import torch
from torch import nn

from seqlayers import GRU, LSTM, Bidirectional, Input, Sequential, SimpleRNN

B, T, F, H = 3, 6, 4, 5
PLAIN = {LSTM: nn.LSTM, GRU: nn.GRU, SimpleRNN: nn.RNN}
MOVES = {"double": lambda m: m.double(), "half": lambda m: m.half(), "bfloat16": lambda m: m.bfloat16(),
         "to": lambda m: m.to(torch.float64)}
TARGET = {"double": torch.float64, "half": torch.float16, "bfloat16": torch.bfloat16, "to": torch.float64}


def _plain_twin(layer, dtype):
    """The torch module computing ``layer`` (torch layout weights, copied), in ``dtype``."""
    cell = layer.cell
    ref = PLAIN[type(layer)](F, H, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(cell.weight_ih)
        ref.weight_hh_l0.copy_(cell.weight_hh)
        ref.bias_ih_l0.copy_(cell.bias)
        ref.bias_hh_l0.copy_(cell.bias_hh if type(layer) is GRU else torch.zeros_like(cell.bias))
    return ref.to(dtype)


@pytest.mark.parametrize("cls", list(PLAIN))
@pytest.mark.parametrize("move", list(MOVES))
def test_move_of_a_built_layer_works_on_the_next_call(cls, move):
    torch.manual_seed(0)
    layer = cls(H, return_sequences=True, bias_initializer="random_normal")
    layer(torch.randn(B, T, F))  # built in float32
    dtype = TARGET[move]
    MOVES[move](layer)
    assert layer.dtype_ == dtype and layer.cell.dtype_ == dtype
    assert all(p.dtype == dtype for p in layer.parameters())
    x = torch.randn(B, T, F, dtype=dtype, requires_grad=True)
    out = layer(x)
    assert out.dtype == dtype and layer.last_path == "fused"  # torch's kernel runs these dtypes
    out.float().square().sum().backward()
    assert x.grad.dtype == dtype and all(p.grad.dtype == dtype for p in layer.parameters())
    ref = _plain_twin(layer, dtype)(x)[0]
    tol = {torch.float64: 1e-10, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(out, ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("cls", list(PLAIN))
@pytest.mark.parametrize("masked", [False, True])
def test_float64_after_double_equals_plain_torch_to_1e_10_with_gradients(cls, masked):
    torch.manual_seed(1)
    layer = cls(H, return_sequences=True, return_state=True, bias_initializer="random_normal")
    layer(torch.randn(B, T, F))
    layer.double()
    ref = _plain_twin(layer, torch.float64)
    x = torch.randn(B, T, F, dtype=torch.float64, requires_grad=True)
    lengths = [T, 3, 1] if masked else [T] * B
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    out, *states = layer(x, mask=mask if masked else None)
    assert layer.last_path == ("fused_padded" if masked else "fused")
    for b, n in enumerate(lengths):  # each sequence alone, on its valid steps: the plain module
        want, final = ref(x[b:b + 1, :n])
        torch.testing.assert_close(out[b, :n], want[0], atol=1e-10, rtol=1e-10)
        final = final if isinstance(final, tuple) else (final,)
        for s, f in zip(states, final):
            torch.testing.assert_close(s[b], f[0, 0], atol=1e-10, rtol=1e-10)
    g_ours = torch.autograd.grad(out[0].sum(), x)[0]
    x0 = x.detach()[:1].clone().requires_grad_(True)
    g_ref = torch.autograd.grad(ref(x0)[0].sum(), x0)[0]
    torch.testing.assert_close(g_ours[:1], g_ref, atol=1e-10, rtol=1e-10)


def test_float64_inference_loop_of_simple_rnn_equals_nn_rnn():
    torch.manual_seed(2)
    layer = SimpleRNN(H, return_sequences=True)
    layer(torch.randn(B, T, F))
    layer.double().eval()
    x = torch.randn(B, T, F, dtype=torch.float64)
    with torch.no_grad():
        out = layer(x)
    assert layer.last_path == "scripted"  # the native loop is float32 only
    torch.testing.assert_close(out, _plain_twin(layer, torch.float64)(x)[0], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("move", list(MOVES))
def test_model_with_bidirectional_and_the_step_loop_moves(move):
    torch.manual_seed(3)
    model = Sequential([Input((T, F)), Bidirectional(LSTM(H, return_sequences=True)),
                        GRU(H, reset_after=False)])  # the second runs the step loop
    model(torch.randn(B, T, F))
    MOVES[move](model)
    dtype = TARGET[move]
    assert all(layer.dtype_ == dtype for layer in model.layers)
    x = torch.randn(B, T, F, dtype=dtype, requires_grad=True)
    out = model(x)
    out.float().sum().backward()
    assert out.dtype == dtype and x.grad is not None
    assert model.layers[0].last_path == ("fused_bidirectional", "fused_bidirectional")
    assert model.layers[1].last_path == "loop"
    back = model.float()(x.detach().float())  # and back again
    assert back.dtype == torch.float32


@pytest.mark.parametrize("move", ["double", "half"])
def test_float32_input_is_cast_to_a_moved_layers_dtype(move):
    layer = LSTM(H, return_sequences=True)
    x = torch.randn(B, T, F)
    layer(x)
    MOVES[move](layer)
    for _ in range(2):  # the second call too (the input check's cache must not skip the cast)
        assert layer(x).dtype == TARGET[move]


def test_meta_then_to_empty_and_load_state_dict_gives_the_model_back():
    torch.manual_seed(4)
    model = Sequential([Input((T, F)), Bidirectional(LSTM(H, return_sequences=True)), SimpleRNN(H)])
    x = torch.randn(B, T, F)
    want = model(x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.to("meta")
    # what to_empty(device="cpu") does (Module._apply of empty_like), with its uninitialised memory made visible
    model._apply(lambda t: torch.full_like(t, float("nan"), device="cpu"))
    model.load_state_dict(state)
    torch.testing.assert_close(model(x), want)
