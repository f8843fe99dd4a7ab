"""rnn_train: the native LSTM and GRU training passes against torch's own kernels (``torch._VF.lstm`` /
``torch._VF.gru``, what ``nn.LSTM`` / ``nn.GRU`` run) on the same tensors: outputs, final states and every gradient; the
double-backward and retain_graph fallbacks; when it applies; and the layers training on it."""
import pytest
import torch

import seqlayers as sl
from seqlayers import native
from seqlayers.layers import rnn_train
from tests.layers.threads import require_native, torch_threads


@pytest.fixture(autouse=True)
def built():
    require_native()


GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
KINDS = list(GATES)


def _case(kind, B, T, F, H, bidirectional, bias, seed=0):
    """x, the initial states (h0 (, c0)) and the flat weights, all requiring gradients."""
    g = torch.Generator().manual_seed(seed)
    D, G, scale = 2 if bidirectional else 1, GATES[kind], 1.5 / H ** 0.5
    weights = []
    for _ in range(D):
        weights += [torch.randn(G * H, F, generator=g) * scale, torch.randn(G * H, H, generator=g) * scale]
        if bias:
            weights += [torch.randn(G * H, generator=g) * scale, torch.randn(G * H, generator=g) * scale]
    weights = [w.requires_grad_() for w in weights]
    x = torch.randn(B, T, F, generator=g).requires_grad_()
    states = [torch.randn(D, B, H, generator=g).requires_grad_() for _ in range(2 if kind == "lstm" else 1)]
    return x, states, weights


def _torch(kind, x, states, weights, bidirectional, bias):
    hx = tuple(states) if kind == "lstm" else states[0]
    return getattr(torch._VF, kind)(x, hx, weights, bias, 1, 0.0, True, bidirectional, True)


def _native(kind, x, states, weights, bidirectional, bias):
    if kind.startswith("rnn_"):
        return rnn_train.NativeRNN.apply(x, *states, bidirectional, bias, kind == "rnn_relu", *weights)
    if kind == "lstm":
        return rnn_train.NativeLSTM.apply(x, *states, None, bidirectional, bias, *weights)
    return rnn_train.NativeGRU.apply(x, *states, None, bidirectional, bias, *weights)


def _grads(run, kind, case, bidirectional, bias, seed=1, use=None):
    """Outputs and the gradients of a random linear function of the chosen outputs (default: all)."""
    x, states, weights = case
    outs = run(kind, x, states, weights, bidirectional, bias)
    g = torch.Generator().manual_seed(seed)
    use = range(len(outs)) if use is None else use
    loss = sum((outs[i] * torch.randn(outs[i].shape, generator=g)).sum() for i in use)
    grads = torch.autograd.grad(loss, [x, *states, *weights])
    return [o.detach() for o in outs], grads


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("B,T,F,H,bidirectional,bias", [
    (3, 5, 4, 8, False, True),
    (3, 5, 4, 8, True, True),
    (7, 13, 10, 20, True, False),  # H not a multiple of 16: the vector tails
    (1, 1, 3, 17, False, True),  # one row, one step
    (2, 9, 1, 33, True, True),
    (16, 40, 12, 64, False, True),
])
def test_outputs_and_every_gradient_equal_torchs_kernel(kind, B, T, F, H, bidirectional, bias):
    case = _case(kind, B, T, F, H, bidirectional, bias)
    outs, grads = _grads(_native, kind, case, bidirectional, bias)
    outs_t, grads_t = _grads(_torch, kind, case, bidirectional, bias)
    # the rational tanh/sigmoid: ~3e-7 per activation, compounding over the steps (relu's values grow)
    for a, b in zip(outs, outs_t):
        torch.testing.assert_close(a, b, atol=2e-6 * max(1.0, float(b.abs().max())), rtol=1e-4)
    for a, b in zip(grads, grads_t):
        torch.testing.assert_close(a, b, atol=1e-5 * float(b.abs().max()), rtol=1e-4)


@pytest.mark.parametrize("kind,use", [("lstm", (1,)), ("lstm", (2,)), ("lstm", (0,)), ("gru", (0,)), ("gru", (1,)),
                                      ("rnn_tanh", (1,)), ("rnn_relu", (0,))])
def test_gradients_when_only_some_outputs_are_used(kind, use):
    case = _case(kind, 4, 6, 5, 12, True, True)
    _, grads = _grads(_native, kind, case, True, True, use=use)
    _, grads_t = _grads(_torch, kind, case, True, True, use=use)
    for a, b in zip(grads, grads_t):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_of_the_gradient_equals_torchs(kind):
    """``create_graph=True`` (a gradient penalty) differentiates torch's kernel over the same inputs."""
    results = []
    for run in (_native, _torch):
        x, states, weights = _case(kind, 3, 6, 4, 8, False, True)
        out = run(kind, x, states, weights, False, True)[0]
        (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        penalty = (gx.norm() - 1.0) ** 2
        results.append(torch.autograd.grad(penalty, weights))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_backward_through_the_same_graph_is_exact(kind):
    """The native backward consumes its saved gates; a second one (retain_graph) recomputes them."""
    x, states, weights = _case(kind, 3, 6, 4, 8, True, True)
    out = _native(kind, x, states, weights, True, True)[0]
    first = torch.autograd.grad(out.sum(), weights, retain_graph=True)
    second = torch.autograd.grad(out.sum(), weights)
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_it_applies_only_where_it_should():
    x, (h0, c0), weights = _case("lstm", 2, 3, 4, 8, False, True)
    assert rnn_train.applies(x, (h0, c0), weights, 1, 0.0, True)
    with torch.no_grad():
        assert not rnn_train.applies(x, (h0, c0), weights, 1, 0.0, True)  # nothing to differentiate
    assert not rnn_train.applies(x, (h0, c0), weights, 2, 0.0, True)  # several layers
    assert not rnn_train.applies(x, (h0, c0), weights, 1, 0.5, True)  # dropout between layers
    assert not rnn_train.applies(x, (h0, c0), weights, 1, 0.0, False)  # time-major
    doubles = [w.detach().double().requires_grad_() for w in weights]
    assert not rnn_train.applies(x.double(), (h0.double(), c0.double()), doubles, 1, 0.0, True)
    frozen = [w.detach() for w in weights]
    assert not rnn_train.applies(x.detach(), (h0.detach(), c0.detach()), frozen, 1, 0.0, True)
    with native.disabled():
        assert not rnn_train.applies(x, (h0, c0), weights, 1, 0.0, True)
    big = [torch.randn(4 * 1024, 4, requires_grad=True), torch.randn(4 * 1024, 1024, requires_grad=True)]
    assert not rnn_train.applies(x, (h0, c0), big, 1, 0.0, True)  # over LSTM_MAX_WEIGHTS: oneDNN's
    gru = [torch.randn(3 * 1024, 4, requires_grad=True), torch.randn(3 * 1024, 1024, requires_grad=True)]
    assert rnn_train.applies(x, [h0], gru, 1, 0.0, True, gates=3)  # the GRU's bound is larger


@pytest.mark.parametrize("kind", KINDS)
def test_it_falls_back_to_torchs_kernel_without_a_gradient(kind):
    x, states, weights = _case(kind, 2, 3, 4, 8, False, True)
    function, kernel = getattr(rnn_train, kind), getattr(torch._VF, kind)
    hx = tuple(states) if kind == "lstm" else states[0]
    with torch.no_grad():
        out = function(x, hx, weights, True, 1, 0.0, False, False, True)
        expected = kernel(x, hx, weights, True, 1, 0.0, False, False, True)
    for a, b in zip(out, expected):
        assert torch.equal(a, b)


def _layer_grads(model, x, mask=None, use_native=True, monkeypatch=None):
    with monkeypatch.context() as m:
        if not use_native:
            m.setattr(rnn_train, "applies", lambda *args, **kwargs: False)
        model.zero_grad()
        out = model(x) if mask is None else model(x, mask=mask)
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        (out * weights).sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("layer", [
    lambda: sl.LSTM(12, return_sequences=True),
    lambda: sl.LSTM(12, go_backwards=True),
    lambda: sl.Bidirectional(sl.LSTM(12, return_sequences=True)),
    lambda: sl.Bidirectional(sl.LSTM(12)),
    lambda: sl.GRU(12, return_sequences=True),
    lambda: sl.Bidirectional(sl.GRU(12, return_sequences=True)),
    lambda: sl.SimpleRNN(12, return_sequences=True),
    lambda: sl.Bidirectional(sl.SimpleRNN(12, return_sequences=True)),
])
def test_masked_layers_train_on_it_as_on_torchs_kernel(layer, monkeypatch):
    """Right-padded masks (an empty row too): the LSTM's native pass takes the lengths in a
    Bidirectional layer (and where the states are read: return_state, stateful); otherwise the
    is_pad column, where the native sigmoid is exactly 0 / 1, so the states are frozen bit for bit
    as with torch's kernel (the LSTM's input and forget gates, the GRU's update gate)."""
    torch.manual_seed(0)
    model = sl.Sequential([sl.Embedding(40, 6, mask_zero=True, input_shape=(7,)), layer()])
    ids = torch.randint(1, 40, (6, 7))
    lengths = torch.tensor([7, 5, 3, 1, 0, 2])
    ids[torch.arange(7)[None] >= lengths[:, None]] = 0
    out, grads = _layer_grads(model, ids, monkeypatch=monkeypatch)
    out_t, grads_t = _layer_grads(model, ids, use_native=False, monkeypatch=monkeypatch)
    torch.testing.assert_close(out, out_t, atol=2e-6, rtol=1e-5)
    for a, b in zip(grads, grads_t):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    if out.dim() == 3 and isinstance(model.layers[-1], sl.Bidirectional):  # padded steps: zeros exactly (Keras)
        pad = torch.arange(7)[None] >= lengths[:, None]
        assert not out[pad].any()


@pytest.mark.parametrize("cls,function", [(sl.LSTM, "NativeLSTM"), (sl.GRU, "NativeGRU"), (sl.SimpleRNN, "NativeRNN")])
def test_a_layer_reports_the_fused_path_and_trains_natively(cls, function, monkeypatch):
    calls = []
    original = getattr(rnn_train, function).apply
    monkeypatch.setattr(getattr(rnn_train, function), "apply", lambda *a: calls.append(1) or original(*a))
    layer = cls(8, return_sequences=True)
    layer(torch.randn(2, 5, 3)).sum().backward()
    assert calls and layer.last_path == "fused"


def test_a_repeated_input_is_projected_once_and_stays_exact():
    """RepeatVector's stride-0 view (W3's decoder): the gradient reaching the repeated vector matches."""
    results = []
    for run in (_native, _torch):
        _, states, weights = _case("lstm", 5, 4, 6, 16, False, True)
        x0 = torch.randn(5, 6, generator=torch.Generator().manual_seed(3)).requires_grad_()
        x = x0[:, None].expand(5, 4, 6)  # (B, T, F) with stride 0 in time
        outs = run("lstm", x, states, weights, False, True)
        loss = (outs[0] * torch.linspace(-1, 1, outs[0].numel()).view_as(outs[0])).sum() + outs[2].sum()
        results.append((outs[0].detach(), torch.autograd.grad(loss, [x0, *states, *weights])))
    (out, grads), (out_t, grads_t) = results
    torch.testing.assert_close(out, out_t, atol=2e-6, rtol=1e-5)
    for a, b in zip(grads, grads_t):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("second", ["create_graph", "retain_graph"])
def test_one_tensor_as_both_initial_states_gets_both_gradients_in_the_fallbacks(second):
    """``(s, s)`` as (h0, c0): the torch-kernel fallbacks must not give each position the sum of both."""
    results = []
    for run in (_native, _torch):
        x, (s, _), weights = _case("lstm", 3, 5, 4, 8, False, True)
        out, h, c = run("lstm", x, [s, s], weights, False, True)
        loss = (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum() + h.sum() + 2 * c.sum()
        if second == "retain_graph":
            torch.autograd.grad(loss, s, retain_graph=True)
            results.append(torch.autograd.grad(loss, [s, x]))
        else:
            (gs,) = torch.autograd.grad(loss, s, create_graph=True)
            results.append([gs.detach(), *torch.autograd.grad((gs ** 2).sum(), [s, x])])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def _per_row_reference(kind, lengths):
    """Torch's kernel on each row's valid prefix alone (an independent formulation of right padding):
    the output zero-padded after it, the final states those of the prefix (the initial ones for length 0)."""
    def run(x, hx, weights, bias, layers, dropout, train, bidirectional, batch_first):
        states = list(hx) if kind == "lstm" else [hx]
        outs, finals = [], []
        for b, n in enumerate(lengths.tolist()):
            rows = [s[:, b:b + 1] for s in states]
            if n == 0:
                outs.append(x.new_zeros(1, x.shape[1], (2 if bidirectional else 1) * states[0].shape[-1]))
                finals.append(rows)
                continue
            hx_b = tuple(rows) if kind == "lstm" else rows[0]
            o, *f = getattr(torch._VF, kind)(x[b:b + 1, :n], hx_b, weights, bias, layers, dropout, train,
                                             bidirectional, batch_first)
            outs.append(torch.nn.functional.pad(o, (0, 0, 0, x.shape[1] - n)))
            finals.append(f)
        return (torch.cat(outs), *[torch.cat(f, dim=1) for f in zip(*finals)])
    return run


def _padded_native(kind, x, states, lengths, bidirectional, weights):
    function = rnn_train.NativeLSTM if kind == "lstm" else rnn_train.NativeGRU
    return function.apply(x, *states, lengths, bidirectional, True, *weights)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional,lengths", [
    (False, [6, 3, 0, 1]), (True, [6, 3, 0, 1]), (True, [1, 7, 7, 2, 5, 7, 3]), (False, [5, 5, 5])])
def test_right_padded_lengths_skip_the_padding_exactly(kind, bidirectional, lengths):
    """NativeLSTM / NativeGRU with lengths against the masked semantics written step by step with torch
    ops (padded steps keep the states and output zeros; backwards, each row starts at its last valid step), and
    against torch's kernel run on each row's valid prefix alone."""
    B, T = len(lengths), max(lengths)
    x, states, weights = _case(kind, B, T, 4, 20, bidirectional, True)
    L = torch.tensor(lengths)
    outs = _padded_native(kind, x, states, L, bidirectional, weights)
    hx = tuple(states) if kind == "lstm" else states[0]
    expected = rnn_train._masked_reference(kind, L)(x, hx, weights, True, 1, 0.0, True, bidirectional, True)
    per_row = _per_row_reference(kind, L)(x, hx, weights, True, 1, 0.0, True, bidirectional, True)
    g = torch.Generator().manual_seed(5)
    probes = [torch.randn(o.shape, generator=g) for o in outs]
    inputs = [x, *states, *weights]
    grads = torch.autograd.grad(sum((o * p).sum() for o, p in zip(outs, probes)), inputs)
    for reference in (expected, per_row):  # the library's step reference and torch's kernel row by row
        grads_t = torch.autograd.grad(sum((o * p).sum() for o, p in zip(reference, probes)), inputs)
        for a, b in zip(outs, reference):
            torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
        for a, b in zip(grads, grads_t):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    pad = torch.arange(T)[None] >= L[:, None]
    assert not outs[0][pad].any()  # zeros at every padded step, both directions
    assert not grads[0][pad].any()  # a padded input reaches nothing


def test_right_padded_gradient_of_the_gradient_uses_the_step_reference():
    x, states, weights = _case("lstm", 3, 5, 4, 8, True, True)
    L = torch.tensor([5, 2, 3])
    results = []
    for reference in (None, rnn_train._masked_reference("lstm", L), _per_row_reference("lstm", L)):
        if reference is None:
            out = rnn_train.NativeLSTM.apply(x, *states, L, True, True, *weights)[0]
        else:  # the step reference the fallback runs, and torch's kernel row by row (independent of it)
            out = reference(x, tuple(states), weights, True, 1, 0.0, True, True, True)[0]
        (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        results.append(torch.autograd.grad((gx ** 2).sum(), weights))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layer", [lambda: sl.LSTM(5, return_sequences=True, return_state=True, go_backwards=True),
                                   lambda: sl.Bidirectional(sl.LSTM(5, return_sequences=True, return_state=True)),
                                   lambda: sl.GRU(5, return_sequences=True, return_state=True, go_backwards=True),
                                   lambda: sl.Bidirectional(sl.GRU(5, return_sequences=True, return_state=True))])
def test_masked_layer_gradient_penalty_equals_torchs_kernel(layer, monkeypatch):
    """A gradient penalty through a right-padded layer: the lengths pass's second-order fallback (the
    step reference) against the is_pad column on torch's kernel, an independent formulation."""
    torch.manual_seed(0)
    model = layer()
    x = torch.randn(4, 6, 3)
    mask = torch.arange(6)[None] < torch.tensor([6, 2, 0, 4])[:, None]
    model(x)
    results = []
    for use_native in (True, False):
        with monkeypatch.context() as m:
            if not use_native:
                m.setattr(rnn_train, "applies", lambda *args, **kwargs: False)
            xg = x.clone().requires_grad_()
            loss = sum(o.sin().sum() for o in model(xg, mask=mask))
            (gx,) = torch.autograd.grad(loss, xg, create_graph=True)
            results.append([gx.detach(), *torch.autograd.grad((gx ** 2).sum(), [xg, *model.parameters()])])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert not results[0][0][~mask].any()  # a padded input reaches nothing


@pytest.mark.parametrize("kind", KINDS)
def test_forward_mode_ad_runs_torchs_kernel(kind):
    """Dual tensors (``torch.autograd.forward_ad``): the native Functions have no jvp."""
    import torch.autograd.forward_ad as fwAD
    x, states, weights = _case(kind, 2, 4, 3, 8, False, True)
    hx = tuple(s.detach() for s in states) if kind == "lstm" else states[0].detach()
    tangent = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    results = []
    for function in (getattr(rnn_train, kind), getattr(torch._VF, kind)):
        with fwAD.dual_level():
            try:
                out = function(fwAD.make_dual(x.detach(), tangent), hx, weights, True, 1, 0.0, True, False, True)[0]
            except NotImplementedError as exc:  # torch's own kernel (oneDNN's LSTM) may lack forward AD too
                results.append(type(exc))
                continue
            results.append(fwAD.unpack_dual(out).tangent.clone())
    if isinstance(results[1], torch.Tensor):
        torch.testing.assert_close(results[0], results[1], atol=1e-5, rtol=1e-4)
    else:
        assert results[0] is results[1]


def test_fake_tensors_run_torchs_kernel():
    """FakeTensorMode / make_fx(tracing_mode="fake") (shape propagation): the native ops have no fake kernel."""
    from torch.fx.experimental.proxy_tensor import make_fx
    x, (h0, c0), weights = _case("lstm", 2, 3, 4, 8, False, True)

    def f(x, h0, c0, *weights):
        return rnn_train.lstm(x, (h0, c0), list(weights), True, 1, 0.0, True, False, True)[0]

    graph = make_fx(f, tracing_mode="fake")(x, h0, c0, *weights).graph
    assert not any("seqlayers_native" in str(node.target) for node in graph.nodes)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("H", [8, 20])
def test_a_nan_in_the_input_spreads_as_through_torchs_kernel(kind, H):
    """A diverged step must show as NaN (a loss check, anomaly detection), not turn into finite values."""
    results = []
    for run in (_native, _torch):
        x, states, weights = _case(kind, 2, 4, 3, H, True, True)
        with torch.no_grad():
            x[0, 1, 0] = float("nan")
        outs = run(kind, x, states, weights, True, True)
        grads = torch.autograd.grad(outs[0].sum(), [x, *states, *weights])
        results.append([t.isnan() for t in (*outs, *grads)])
    for a, b in zip(*results):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_batched_gradients_equal_torchs(kind):
    """``autograd.grad(..., is_grads_batched=True)`` (``jacobian(vectorize=True)``) vmaps the backward: the
    native ops have no batching rule, torch's kernel does."""
    results = []
    for run in (_native, _torch):
        x, states, weights = _case(kind, 2, 4, 3, 8, True, True)
        out = run(kind, x, states, weights, True, True)[0]
        v = torch.randn(3, *out.shape, generator=torch.Generator().manual_seed(4))
        results.append(torch.autograd.grad(out, [x, *states, *weights], v, is_grads_batched=True))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layer,function", [
    (lambda: sl.LSTM(12, return_sequences=True, return_state=True), "lstm_right_padded"),
    (lambda: sl.Bidirectional(sl.LSTM(12, return_sequences=True)), "lstm_right_padded"),
    (lambda: sl.GRU(12, return_sequences=True, return_state=True), "gru_right_padded"),
    (lambda: sl.Bidirectional(sl.GRU(12, return_sequences=True)), "gru_right_padded")])
def test_masked_layers_train_on_the_lengths(layer, function, monkeypatch):
    calls = []
    original = getattr(rnn_train, function)
    monkeypatch.setattr(rnn_train, function, lambda *a: calls.append(a[-1]) or original(*a))
    model = sl.Sequential([sl.Embedding(40, 6, mask_zero=True, input_shape=(7,)), layer()])
    ids = torch.randint(1, 40, (3, 7))
    ids[1, 4:] = 0
    ids[2, 1:] = 0
    out = model(ids)
    (out[0] if isinstance(out, list) else out).sum().backward()
    assert calls and calls[0].tolist() == [7, 4, 1]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_two_threads_run_directions_or_batch_halves_at_once_and_agree(kind, bidirectional):
    """With more than one torch thread (and above 2^21 multiply-adds: this size is) a bidirectional
    call runs its two directions at once, a one-direction call the two halves of its batch."""
    with torch_threads(2):
        case = _case(kind, 32, 40, 8, 64, bidirectional, True)
        outs, grads = _grads(_native, kind, case, bidirectional, True)
        outs_t, grads_t = _grads(_torch, kind, case, bidirectional, True)
    for a, b in zip(outs, outs_t):  # 40 steps of H = 64: the products' rounding differs a little more
        torch.testing.assert_close(a, b, atol=1e-5 * max(1.0, float(b.abs().max())), rtol=1e-4)
    for a, b in zip(grads, grads_t):
        torch.testing.assert_close(a, b, atol=1e-5 * float(b.abs().max()), rtol=1e-4)


def test_the_ops_refuse_lengths_off_the_cpu_or_of_another_dtype():
    x, states, weights = _case("lstm", 2, 3, 4, 8, False, True)
    op = torch.ops.seqlayers_native.lstm_train_forward
    with torch.no_grad():
        for bad in (torch.tensor([3, 2], dtype=torch.int32), torch.tensor([3, 2, 1])):
            with pytest.raises(RuntimeError, match=r"lengths must be a \(B,\) = \(2,\) int64 CPU tensor"):
                op(x, [weights[0]], [weights[1]], [weights[2]], [weights[3]], *states, [False], bad)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_two_threads_on_a_right_padded_batch_agree_with_one(bidirectional):
    """The batch halves of a right-padded LSTM call (rows in length order): as on one thread."""
    B, T = 32, 40
    x, states, weights = _case("lstm", B, T, 8, 64, bidirectional, True)
    L = torch.randint(0, T + 1, (B,), generator=torch.Generator().manual_seed(7))
    results = []
    for threads in (1, 2):
        with torch_threads(threads):
            outs = rnn_train.NativeLSTM.apply(x, *states, L, bidirectional, True, *weights)
            probe = torch.linspace(-1, 1, outs[0].numel()).view_as(outs[0])
            grads = torch.autograd.grad((outs[0] * probe).sum() + outs[1].sum() + outs[2].sum(), [x, *states, *weights])
            results.append(([o.detach() for o in outs], grads))
    (outs, grads), (outs2, grads2) = results
    for a, b in zip(outs + list(grads), outs2 + list(grads2)):
        torch.testing.assert_close(a, b, atol=1e-5 * max(1.0, float(b.abs().max())), rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_the_batch_chunks_give_the_same_bits_on_every_run(kind):
    """On four threads a one-direction call runs its batch in four chunks whichever finishes first:
    the bias gradients (each chunk's partial sum) are added in batch order, so every run is the same."""
    case = _case(kind, 48, 40, 8, 64, False, True)
    with torch_threads(4):
        first = _grads(_native, kind, case, False, True)[1]
        for _ in range(8):
            for a, b in zip(first, _grads(_native, kind, case, False, True)[1]):
                assert torch.equal(a, b)



@pytest.mark.parametrize("kind,padded,repeated", [(kind, False, False) for kind in KINDS] + [
    ("lstm", True, False), ("lstm", False, True), ("lstm", True, True)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_three_threads_in_uneven_chunks_agree_with_torchs_kernel(kind, padded, repeated, bidirectional):
    """Three threads split 25 rows into chunks of 8, 8 and 9 (H = 40: a vector tail), a bidirectional
    call its directions; right-padded, most rows end within two steps (chunks with no active row);
    repeated, RepeatVector's stride-0 input (its projection's rows per chunk)."""
    B, T = 25, 48  # SimpleRNN: B T H (F + H) = 2.3M multiply-adds, above the threaded path's 2^21
    case = _case(kind, B, T, 8, 40, bidirectional, True)
    lengths = torch.randint(0, 3, (B,), generator=torch.Generator().manual_seed(3))
    lengths[::7] = T
    reference = rnn_train._masked_reference("lstm", lengths) if padded else getattr(torch._VF, kind)

    def native_run(kind, x, states, weights, bidirectional, bias):
        x = x[:, :1].expand(x.shape) if repeated else x
        if padded:
            return rnn_train.NativeLSTM.apply(x, *states, lengths, bidirectional, bias, *weights)
        return _native(kind, x, states, weights, bidirectional, bias)

    def torch_run(kind, x, states, weights, bidirectional, bias):
        x = x[:, :1].expand(x.shape) if repeated else x
        hx = tuple(states) if kind == "lstm" else states[0]
        return reference(x, hx, weights, bias, 1, 0.0, True, bidirectional, True)
    with torch_threads(3):
        (outs, grads), (outs_t, grads_t) = [_grads(run, kind, case, bidirectional, True)
                                            for run in (native_run, torch_run)]
    for a, b in zip(outs, outs_t):
        torch.testing.assert_close(a, b, atol=5e-6 * max(1.0, float(b.abs().max())), rtol=1e-4)
    for a, b in zip(grads, grads_t):
        torch.testing.assert_close(a, b, atol=1e-5 * float(b.abs().max()), rtol=1e-4)
