"""The fused fast paths agree with the exact step loop: outputs, states and gradients (1e-5)."""
import pytest
import torch

from seqlayers import GRU, LSTM, Bidirectional, SimpleRNN
from seqlayers.layers.rnn_masks import reverse_index, right_padding

B, T, F, H = 4, 5, 3, 4
LENGTHS = [5, 3, 0, 1]  # a full row, a padded one, an empty one, a single step

FAMILIES = {
    "lstm": lambda **kw: LSTM(H, **kw),
    "gru": lambda **kw: GRU(H, **kw),
    "rnn_tanh": lambda **kw: SimpleRNN(H, **kw),
    "rnn_relu": lambda **kw: SimpleRNN(H, activation="relu", **kw),
}


def _mask(lengths=LENGTHS):
    return torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]


def _run(layer, x, mask, init):
    """Outputs, final states, and gradients of a fixed random projection of all of them."""
    layer.zero_grad()
    x = x.clone().requires_grad_(True)
    init = [s.clone().requires_grad_(True) for s in init]
    out, *states = layer(x, mask=mask, initial_state=init)
    torch.manual_seed(123)
    loss = sum((t * torch.randn(t.shape)).sum() for t in [out] + states)
    loss.backward()
    grads = [x.grad, *[s.grad for s in init]] + [p.grad for p in layer.parameters()]
    return [out.detach()] + [s.detach() for s in states], grads


def _pair(make, **kw):
    fused = make(return_state=True, **kw)
    fused(torch.zeros(B, T, F))
    loop = make(return_state=True, **kw)
    loop(torch.zeros(B, T, F))
    loop.set_weights(fused.get_weights())
    loop._allow_fused = False
    return fused, loop


def _assert_same(a, b):
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_fused_equals_loop(family, masked, go_backwards, zero_output_for_mask, return_sequences):
    make = FAMILIES[family]
    fused, loop = _pair(make, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
                        return_sequences=return_sequences)
    x = torch.randn(B, T, F)
    mask = _mask() if masked else None
    init = [torch.randn(B, H) * 0.5 for _ in fused.state_sizes]
    out_f, grad_f = _run(fused, x, mask, init)
    assert fused.last_path == ("fused_padded" if masked else "fused")
    out_l, grad_l = _run(loop, x, mask, init)
    assert loop.last_path == "loop"
    _assert_same(out_f, out_l)
    _assert_same(grad_f, grad_l)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences,merge_mode", [(True, "concat"), (False, "concat"), (True, "ave"),
                                                         (True, None)])
def test_bidirectional_fused_equals_loop(family, masked, return_sequences, merge_mode):
    make = FAMILIES[family]
    kw = dict(return_sequences=return_sequences, return_state=True)
    fused = Bidirectional(make(**kw), merge_mode=merge_mode)
    loop = Bidirectional(make(**kw), merge_mode=merge_mode)
    x = torch.randn(B, T, F)
    fused(x), loop(x)
    loop.set_weights(fused.get_weights())
    loop.forward_layer._allow_fused = loop.backward_layer._allow_fused = False
    mask = _mask() if masked else None
    outs = []
    for layer in (fused, loop):
        layer.zero_grad()
        xg = x.clone().requires_grad_(True)
        init = [torch.randn(B, H, generator=torch.Generator().manual_seed(i)) for i in range(2 * len(
            layer.forward_layer.state_sizes))]
        res = layer(xg, mask=mask, initial_state=init)
        torch.manual_seed(7)
        sum((t * torch.randn(t.shape)).sum() for t in res).backward()
        outs.append(([r.detach() for r in res], [xg.grad] + [p.grad for p in layer.parameters()]))
    kind = "fused_padded" if masked else "fused_bidirectional"  # no mask: one bidirectional kernel call
    assert fused.last_path == (kind, kind) and loop.last_path == ("loop", "loop")
    _assert_same(outs[0][0], outs[1][0])
    _assert_same(outs[0][1], outs[1][1])


def test_lstm_cell_state_is_frozen_exactly_at_padded_steps():
    """The is_pad trick: c_n does not depend on the padding at all, bit for bit, and nor do gradients."""
    layer = LSTM(H, return_state=True, return_sequences=True)
    x = torch.randn(B, T, F)
    mask = _mask()
    other = torch.where(mask[..., None], x, torch.randn(B, T, F) * 5)  # same valid steps, other padding
    x1, x2 = x.clone().requires_grad_(True), other.clone().requires_grad_(True)
    out1, h1, c1 = layer(x1, mask=mask)
    out2, h2, c2 = layer(x2, mask=mask)
    assert layer.last_path == "fused_padded"
    assert torch.equal(c1, c2) and torch.equal(h1, h2) and torch.equal(out1, out2)
    (c1.sum() + h1.sum() + out1.sum()).backward()
    assert not x1.grad[~mask].any()  # padded inputs get exactly zero gradient
    torch.testing.assert_close(x1.grad[mask].abs().sum() > 0, torch.tensor(True))


def test_lstm_padded_final_states_equal_a_run_on_the_truncated_sequence():
    layer = LSTM(H, return_state=True)
    x = torch.randn(B, T, F)
    _, h, c = layer(x, mask=_mask())
    for b, n in enumerate(LENGTHS):
        if n == 0:
            assert not h[b].any() and not c[b].any()
            continue
        _, rh, rc = layer(x[b:b + 1, :n])
        torch.testing.assert_close(h[b], rh[0], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(c[b], rc[0], atol=1e-6, rtol=1e-6)


def test_path_selection_by_mask_kind():
    layer = GRU(H)
    x = torch.randn(B, T, F)
    layer(x, mask=torch.ones(B, T, dtype=torch.bool))
    assert layer.last_path == "fused"  # an all-valid mask is no mask
    layer(x, mask=_mask())
    assert layer.last_path == "fused_padded"
    layer(x, mask=_mask().flip(1))  # left padding
    assert layer.last_path == "loop"
    GRU(H, reset_after=False)(x)
    gru_rb = GRU(H, reset_after=False)
    gru_rb(x)
    assert gru_rb.last_path == "loop"
    hard = LSTM(H, recurrent_activation="hard_sigmoid")
    hard(x)
    assert hard.last_path == "loop"


def test_right_padding_detection_and_reverse_index():
    lengths, kind = right_padding(_mask())
    assert kind == "right" and lengths.tolist() == LENGTHS
    assert right_padding(torch.ones(2, 3, dtype=torch.bool))[1] == "full"
    assert right_padding(torch.tensor([[True, False, True]]))[1] == "other"
    assert right_padding(torch.tensor([[False, True, True]]))[1] == "other"
    idx = reverse_index(torch.tensor([3, 1, 0]), 4)
    assert idx.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert torch.equal(idx.gather(1, idx), torch.arange(4).expand(3, 4))  # its own inverse


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("masked", [False, True])
def test_input_dropout_fused_equals_loop(family, masked):
    """Seeded layers draw the same dropout masks, so the fused and loop paths must agree in training."""
    make = FAMILIES[family]
    fused, loop = _pair(make, dropout=0.4, seed=5, return_sequences=True, go_backwards=masked)
    fused.train(), loop.train()
    x = torch.randn(B, T, F)
    mask = _mask() if masked else None
    init = [torch.zeros(B, H) for _ in fused.state_sizes]
    out_f, grad_f = _run(fused, x, mask, init)
    out_l, grad_l = _run(loop, x, mask, init)
    assert fused.last_path.startswith("fused") and loop.last_path == "loop"
    _assert_same(out_f, out_l)
    _assert_same(grad_f, grad_l)
    fused.eval()
    assert not torch.allclose(fused(x, mask=mask)[0], out_f[0])  # dropout was active in training


def test_gather_steps_reads_batch_major_and_time_major_storage_alike():
    from seqlayers.layers.rnn_masks import gather_steps, reverse_index

    torch.manual_seed(0)
    B, T, F_ = 3, 5, 4
    x = torch.randn(B, T, F_)
    idx = reverse_index(torch.tensor([5, 2, 0]), T)
    expected = torch.stack([x[b, idx[b]] for b in range(B)])  # plain indexing, one row at a time
    time_major = x.transpose(0, 1).contiguous().transpose(0, 1)  # same values, (T, B, F) storage
    assert not time_major.is_contiguous()
    assert torch.equal(gather_steps(x, idx), expected)
    assert torch.equal(gather_steps(time_major, idx), expected)
    assert torch.equal(gather_steps(x[:, :, :2], idx), expected[..., :2])  # neither layout: copies
    zero = torch.rand(B, T) < 0.4
    for source in (x, time_major):
        assert torch.equal(gather_steps(source, idx, zero=zero), expected.masked_fill(zero[..., None], 0.0))
    assert torch.equal(gather_steps(x, idx, zero=torch.tensor([[True], [False], [False]])),
                       torch.cat([torch.zeros(1, T, F_), expected[1:]]))  # (B, 1) broadcasts over steps


def _bidirectional_run(layer, x, mask, init=None):
    """Outputs (and final states) of a Bidirectional, and the gradients of a fixed projection of them."""
    layer.zero_grad()
    xg = x.clone().requires_grad_(True)
    res = layer(xg, mask=mask, initial_state=init)
    res = res if isinstance(res, list) else [res]
    torch.manual_seed(7)
    sum((t * torch.randn(t.shape)).sum() for t in res).backward()
    return [r.detach() for r in res], [xg.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("family", ["lstm", "gru"])
@pytest.mark.parametrize("return_sequences,merge_mode,return_state", [
    (True, "concat", False), (True, "concat", True), (False, "concat", True), (True, "sum", False),
    (True, None, False)])
def test_masked_bidirectional_is_one_bidirectional_call_equal_to_the_loop_and_to_two_calls(
        family, return_sequences, merge_mode, return_state):
    """A right-padded mask, no initial state: both directions in one bidirectional kernel call
    (``fused_bidirectional_padded``), equal to the step loop and to the two per-direction calls that
    run when start states are given (zeros here), outputs, final states and gradients."""
    make = FAMILIES[family]
    kw = dict(return_sequences=return_sequences, return_state=return_state)
    one, loop = Bidirectional(make(**kw), merge_mode=merge_mode), Bidirectional(make(**kw), merge_mode=merge_mode)
    x = torch.randn(B, T, F)
    one(x), loop(x)
    loop.set_weights(one.get_weights())
    loop.forward_layer._allow_fused = loop.backward_layer._allow_fused = False
    mask = _mask()  # a full row, a padded one, an empty one, a single step
    out_one, grad_one = _bidirectional_run(one, x, mask)
    assert one.last_path == ("fused_bidirectional_padded",) * 2
    zeros = [torch.zeros(B, H) for _ in range(2 * len(one.forward_layer.state_sizes))]
    out_two, grad_two = _bidirectional_run(one, x, mask, init=zeros)
    assert one.last_path == ("fused_padded",) * 2  # given start states: one call per direction, as before
    out_loop, grad_loop = _bidirectional_run(loop, x, mask)
    assert loop.last_path == ("loop", "loop")
    for other_out, other_grad in ((out_two, grad_two), (out_loop, grad_loop)):
        _assert_same(out_one, other_out)
        _assert_same(grad_one, other_grad)


@pytest.mark.parametrize("family", ["lstm", "gru"])
def test_one_call_masked_bidirectional_ignores_the_padding_bit_for_bit(family):
    """The padded steps' inputs change nothing, not even a bit, and get exactly zero gradient."""
    layer = Bidirectional(FAMILIES[family](return_sequences=True, return_state=True))
    mask = _mask()
    x = torch.randn(B, T, F)
    other = torch.where(mask[..., None], x, torch.randn(B, T, F) * 5)  # the same valid steps, other padding
    layer(x)
    (out1, *states1), grads1 = _bidirectional_run(layer, x, mask)
    (out2, *states2), _ = _bidirectional_run(layer, other, mask)
    assert layer.last_path == ("fused_bidirectional_padded",) * 2
    assert torch.equal(out1, out2) and all(torch.equal(s, t) for s, t in zip(states1, states2))
    assert not out1[~mask].any()  # zeros at padded steps, both halves (Keras: return_sequences)
    assert not grads1[0][~mask].any() and grads1[0][mask].abs().sum() > 0
