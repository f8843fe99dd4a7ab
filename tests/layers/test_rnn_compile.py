"""torch.compile(fullgraph=True) on masked and unmasked models of every recurrent layer (issue 17):
no graph break (torch._dynamo.explain counts 0), and the compiled model equals eager, gradients included.

Under compilation a masked call runs the exact step loop (telling right padding apart needs the mask's
values: a device sync, which would break the graph), so the compiled masked model is exact for any mask.
The aot_eager backend traces forward and backward as inductor would, without its C++ build (fast)."""
import pytest
import torch

from seqlayers import GRU, LSTM, Bidirectional, Embedding, Sequential, SimpleRNN

B, T, F, H = 2, 5, 3, 4
RECURRENT = {
    "LSTM": lambda: LSTM(H, return_sequences=True),
    "GRU": lambda: GRU(H),
    "SimpleRNN": lambda: SimpleRNN(H, return_sequences=True),
    "Bidirectional": lambda: Bidirectional(LSTM(H, return_sequences=True)),
}


def _model_and_input(name, masked):
    torch.manual_seed(0)
    if masked:
        model = Sequential([Embedding(10, F, mask_zero=True), RECURRENT[name]()])
        x = torch.randint(1, 10, (B, T))
        x[0, 3:] = 0  # right padding
        x[1, 1] = 0  # and a hole: only the loop computes it
    else:
        model = Sequential([RECURRENT[name]()])
        x = torch.randn(B, T, F)
    model(x)  # built eagerly
    return model, x


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name", list(RECURRENT))
def test_compile_fullgraph_has_no_graph_break_and_matches_eager(name, masked):
    model, x = _model_and_input(name, masked)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    want = model(x)
    grads_eager = torch.autograd.grad(want.square().sum(), list(model.parameters()))
    got = compiled(x)
    grads_compiled = torch.autograd.grad(got.square().sum(), list(model.parameters()))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    for a, b in zip(grads_compiled, grads_eager):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
