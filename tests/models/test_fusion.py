"""models/fusion.py: Sequential's LSTM/GRU -> per-step Dense in one native call, against the two layers
called one after the other (the reference: each layer's own call), and every case where it must not run."""
import pytest
import torch

import seqlayers as sl
from seqlayers import native
from seqlayers.layers import rnn_kernel
from seqlayers.models import fusion
from tests.layers.threads import require_native, torch_threads


@pytest.fixture(autouse=True)
def _native():
    require_native()


def _model(rnn, head, F=8):
    torch.manual_seed(0)
    m = sl.Sequential([sl.Input((None, F)), rnn, head])
    m(torch.randn(2, 3, F))  # built
    m.eval()
    return m


def _separately(m, x):
    """The reference: the two layers' own calls, in inference."""
    with torch.inference_mode():
        return m.layers[1](m.layers[0](x))


@pytest.fixture
def head_calls(monkeypatch):
    """Counts rnn_kernel.run_head's runs that produced the fused result."""
    calls = []
    real = rnn_kernel.run_head

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(rnn_kernel, "run_head", spy)
    return calls


# (cell, F, H): the fused LSTM/GRU steps with a tail of H % 16, an LSTM past lstm_fused's 160
# floats (the op then applies the Dense to its sequence), SimpleRNN (tanh, and relu with more than 16
# features: their projection by sgemm before each step) and one past its kernel's 512 units (MKL's
# path, the Dense on the sequence), a GRU(reset_after=False) (no fused steps: the op's Dense on its output)
CASES = [("lstm", 8, 40), ("gru", 5, 37), ("lstm", 150, 20), ("rnn", 8, 40), ("rnn_relu", 20, 37), ("rnn", 3, 520),
         ("gru_reset_before", 6, 24)]


def _rnn(cell, H, **kwargs):
    if cell.startswith("rnn"):
        return sl.SimpleRNN(H, activation="relu" if cell == "rnn_relu" else "tanh", **kwargs)
    if cell == "gru_reset_before":
        return sl.GRU(H, reset_after=False, **kwargs)
    return (sl.LSTM if cell == "lstm" else sl.GRU)(H, **kwargs)


@pytest.mark.parametrize("cell, F, H", CASES)
@pytest.mark.parametrize("units, activation, wrap, use_bias", [
    (1, None, True, True), (3, "sigmoid", False, True), (4, "softmax", True, False), (12, "softmax", True, True),
    (16, None, False, True), (7, "softmax", False, True), (20, "softmax", True, True), (32, None, False, True)])
def test_fused_pair_equals_the_two_layers(cell, F, H, units, activation, wrap, use_bias, head_calls):
    rnn = _rnn(cell, H, return_sequences=True, go_backwards=units == 3)
    dense = sl.Dense(units, activation=activation, use_bias=use_bias)
    m = _model(rnn, sl.TimeDistributed(dense) if wrap else dense, F)
    x = torch.randn(13, 6, F)
    with torch.inference_mode():
        got = m(x)
    assert head_calls == [True] and rnn.last_path == "native"
    torch.testing.assert_close(got, _separately(m, x), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("cell, units", [("lstm", 12), ("gru", 12), ("rnn", 12), ("lstm", 3)])
def test_fused_softmax_head_with_huge_logits_equals_torchs_softmax(cell, units, head_calls):
    # logits in the hundreds: the fused softmax's exp must neither overflow nor lose the small classes
    # that torch's float32 softmax keeps (e^-300 underflows to 0 in both); 3 units: head.h's dot form
    dense = sl.Dense(units, activation="softmax")
    m = _model(_rnn(cell, 24, return_sequences=True), sl.TimeDistributed(dense))
    with torch.no_grad():
        dense.kernel.mul_(400.0)
        dense.bias.copy_(torch.linspace(-60, 60, units))
    x = torch.randn(9, 5, 8)
    with torch.inference_mode():
        got = m(x)
        want = torch.softmax(torch.nn.functional.linear(m.layers[0](x), dense.kernel.t(), dense.bias), dim=-1)
    assert head_calls == [True] and (got.amax(-1) > 0.5).any() and (got == 0).any()
    # logits of ~400 carry float32 rounding of ~400 * 24 * 6e-8 from the sums' order, and a softmax turns a
    # logit's absolute error into the same relative error: rtol 1e-4 (the other tests' logits are small)
    torch.testing.assert_close(got, want, atol=2e-6, rtol=1e-4)


@pytest.mark.parametrize("cell, H", [("lstm", 32), ("rnn", 64)])
def test_fused_pair_on_two_threads_equals_one_thread(cell, H, head_calls):
    m = _model(_rnn(cell, H, return_sequences=True), sl.TimeDistributed(sl.Dense(2)))
    x = torch.randn(64, 20, 8)  # enough work for the batch to be split in chunks (loop_math.h's for_each_chunk)
    with torch.inference_mode():
        one = m(x)
        with torch_threads(2):
            two = m(x)
    assert head_calls == [True, True]  # both fused (else this compares the two layers' calls with themselves)
    torch.testing.assert_close(two, one, atol=1e-6, rtol=1e-6)


def test_not_fused_when_training_or_a_gradient_is_needed(head_calls):
    m = _model(sl.LSTM(16, return_sequences=True), sl.TimeDistributed(sl.Dense(1)))
    x = torch.randn(4, 5, 8)
    m.train()
    with torch.no_grad():
        m(x)
    m.eval()
    y = m(x)  # grad mode on: the Dense's kernel needs a gradient
    y.sum().backward()
    assert head_calls == [] and m.layers[1].layer.kernel.grad is not None


def test_not_fused_for_a_hook_or_a_wide_dense(head_calls):
    seen = []
    hooked = _model(sl.GRU(16, return_sequences=True), sl.Dense(1))
    hooked.layers[1].register_forward_hook(lambda *a: seen.append(1))
    wide = _model(sl.LSTM(16, return_sequences=True), sl.Dense(rnn_kernel.MAX_HEAD_UNITS + 1))
    x = torch.randn(3, 4, 8)
    with torch.inference_mode():
        hooked(x)
        got = wide(x)
    assert head_calls == [False] and seen == [1]  # only the wide Dense reached run_head, which refused it
    torch.testing.assert_close(got, _separately(wide, x))


def _tagger(rnn, units=17, activation="softmax", masked=True):
    """Embedding (mask_zero) -> rnn -> TimeDistributed(Dense): W2's and W5's shape of model, small."""
    torch.manual_seed(0)
    m = sl.Sequential([sl.Input((None,), dtype="int64"), sl.Embedding(30, 12, mask_zero=masked), rnn,
                       sl.TimeDistributed(sl.Dense(units, activation=activation))])
    m(torch.ones(2, 3, dtype=torch.int64))  # built
    return m.eval()


def _tagger_separately(m, ids):
    with torch.inference_mode():
        return m.layers[2](m.layers[1](m.layers[0](ids)))


def _ids(B=6, T=9, lengths=(9, 7, 7, 4, 2, 1)):
    torch.manual_seed(1)
    ids = torch.randint(1, 30, (B, T))
    for b, n in enumerate(lengths):
        ids[b, n:] = 0  # right-padded (the last row: a single valid step)
    return ids


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_reset_before", "lstm_one_direction"])
@pytest.mark.parametrize("units, activation", [(17, "softmax"), (3, None), (32, "tanh")])
@pytest.mark.parametrize("masked", [True, False])
def test_bidirectional_or_masked_layer_and_its_dense_equal_the_two_layers(cell, units, activation, masked,
                                                                         head_calls):
    """Bidirectional(LSTM/GRU) -> TimeDistributed(Dense): the Dense over the finished (B, T, 2H) output
    in the op (W2; W5 with the mask), the result and its mask as the layers' own calls give them; one
    masked direction the same way (its steps run without the head)."""
    inner = sl.GRU(20, return_sequences=True, reset_after=cell == "gru") if cell.startswith("gru") else sl.LSTM(
        20, return_sequences=True)
    m = _tagger(inner if cell == "lstm_one_direction" else sl.Bidirectional(inner), units, activation, masked)
    ids = _ids()
    with torch.inference_mode():
        got = m(ids)
    want = _tagger_separately(m, ids)
    assert head_calls == [True]
    torch.testing.assert_close(got, want, atol=2e-6, rtol=1e-5)
    got_mask, want_mask = sl.layers.base.get_mask(got), sl.layers.base.get_mask(want)
    if masked:
        assert torch.equal(got_mask, want_mask) and not bool(got_mask.all())
    else:
        assert got_mask is None and want_mask is None


def test_a_masked_simple_rnn_is_left_to_the_two_layers(head_calls):
    m = _tagger(sl.SimpleRNN(24, return_sequences=True), 5, "softmax")
    ids = _ids()
    with torch.inference_mode():
        got = m(ids)
    assert head_calls == [False]  # run_head refused it: SimpleRNN's loop takes no mask
    torch.testing.assert_close(got, _tagger_separately(m, ids))


@pytest.mark.parametrize("bidirectional", [
    lambda: sl.Bidirectional(sl.LSTM(8, return_sequences=True), merge_mode="sum"),
    lambda: sl.Bidirectional(sl.LSTM(8, return_sequences=True, return_state=True)),
    lambda: sl.Bidirectional(sl.LSTM(8)),
    lambda: sl.Bidirectional(sl.LSTM(8, return_sequences=True, go_backwards=True)),
    lambda: sl.Bidirectional(sl.LSTM(8, return_sequences=True),
                             backward_layer=sl.GRU(8, return_sequences=True, go_backwards=True)),
], ids=["merge_sum", "return_state", "last_step_only", "forward_layer_backwards", "two_cell_kinds"])
def test_bidirectionals_the_fusion_does_not_take_run_as_before(bidirectional):
    layer = bidirectional()
    nxt = sl.Dense(2)
    x = torch.randn(3, 4, 6)
    with torch.inference_mode():
        out = layer(x)
        nxt(out[0] if isinstance(out, list) else out)
        assert fusion.rnn_then_dense(layer, nxt, x) is None


@pytest.mark.parametrize("rnn", [
    lambda: sl.LSTM(16, return_sequences=True, return_state=True),
    lambda: sl.LSTM(16),
    lambda: sl.SimpleRNN(16),
], ids=["return_state", "last_step_only", "simple_rnn_last_step_only"])
def test_pairs_the_kernels_do_not_take_run_as_before(rnn):
    layer = rnn()
    nxt = sl.Dense(1)
    x = torch.randn(3, 4, 8)
    with torch.inference_mode():
        layer(x)
        nxt(torch.randn(3, 4, 16))
        assert fusion.rnn_then_dense(layer, nxt, x) is None


def test_the_op_refuses_a_head_without_return_sequences():
    w_ih, w_hh, b = torch.randn(64, 8), torch.randn(64, 16), torch.randn(64)
    x = torch.randn(2, 3, 8)
    with pytest.raises(RuntimeError, match="a head needs return_sequences"):
        torch.ops.seqlayers_native.gated_rnn_forward(x, 0, [w_ih], [w_hh], [b], [None], [None], [None], None,
                                                     [False], [False], False, False, False, torch.randn(1, 16), None)


def test_a_dense_of_another_width_is_left_to_its_own_call():
    """(A Sequential catches the mismatch when it is built; called on the pair directly, the fusion declines.)"""
    rnn, dense = sl.LSTM(16, return_sequences=True), sl.Dense(1)
    dense(torch.randn(2, 3, 12))  # built for 12 features, not the LSTM's 16
    x = torch.randn(2, 3, 8)
    with torch.inference_mode():
        rnn(x)
        assert fusion.rnn_then_dense(rnn, dense, x) is None


def test_not_fused_for_a_subclass_with_its_own_call(head_calls):
    """A subclass of LSTM may change what its call does: the Sequential gives what that call gives."""
    class Scaled(sl.LSTM):
        def call(self, inputs, **kwargs):
            return super().call(inputs * 0.5, **kwargs)

    m = _model(Scaled(16, return_sequences=True), sl.TimeDistributed(sl.Dense(2)))
    x = torch.randn(3, 4, 8)
    with torch.inference_mode():
        got = m(x)
    assert head_calls == []
    torch.testing.assert_close(got, _separately(m, x))


def test_not_fused_under_autocast(head_calls):
    """Under CPU autocast the Dense's own call computes in bfloat16: the Sequential's output keeps that dtype."""
    m = _model(sl.LSTM(16, return_sequences=True), sl.TimeDistributed(sl.Dense(2)))
    x = torch.randn(3, 4, 8)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = m(x), m.layers[1](m.layers[0](x))
    assert head_calls == [] and got.dtype == want.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)


def test_a_wrapped_dense_activation_sees_the_folded_steps(head_calls):
    """TimeDistributed hands its Dense (B*T, H): a callable activation sees (B*T, U) there, fused or not."""
    m = _model(sl.GRU(16, return_sequences=True), sl.TimeDistributed(sl.Dense(2, activation=lambda y: y * y.shape[0])))
    x = torch.randn(3, 4, 8)
    with torch.inference_mode():
        got = m(x)
    assert head_calls == [True]
    torch.testing.assert_close(got, _separately(m, x))


@pytest.mark.parametrize("units", [2, 9])
def test_simple_rnn_head_on_the_sgemm_path_equals_the_two_layers(units, head_calls):
    """native.blas_only(): the loop without its AVX-512 kernel (what other CPUs run) makes the sequence
    and the op applies the Dense to it; the same result either way."""
    m = _model(sl.SimpleRNN(24, return_sequences=True), sl.TimeDistributed(sl.Dense(units, activation="softmax")))
    x = torch.randn(5, 7, 8)
    with torch.inference_mode(), native.blas_only():
        got = m(x)
    assert head_calls == [True]
    torch.testing.assert_close(got, _separately(m, x), atol=2e-6, rtol=1e-5)


def test_simple_rnn_op_checks_its_head():
    x, w_ih_t, w_hh_t, h0 = torch.randn(2, 3, 4), torch.randn(4, 8), torch.randn(8, 8), torch.zeros(2, 8)
    op = torch.ops.seqlayers_native.simple_rnn_forward
    with pytest.raises(RuntimeError, match=r"simple_rnn_forward: head_w must be \(U, H\) float32 with H = 8"):
        op(x, w_ih_t, w_hh_t, None, h0, False, False, torch.randn(2, 7))
    with pytest.raises(RuntimeError, match=r"simple_rnn_forward: head_b must be \(U,\) float32 with U = 2"):
        op(x, w_ih_t, w_hh_t, None, h0, False, False, torch.randn(2, 8), torch.randn(3))


def test_bidirectional_head_on_the_sgemm_path_equals_the_two_layers(head_calls):
    """native.blas_only(): torch's addmm (and softmax) on the op's output, what CPUs without AVX-512 run."""
    m = _tagger(sl.Bidirectional(sl.LSTM(20, return_sequences=True)), 17, "softmax")
    ids = _ids()
    with torch.inference_mode(), native.blas_only():
        got = m(ids)
    assert head_calls == [True]
    torch.testing.assert_close(got, _tagger_separately(m, ids), atol=2e-6, rtol=1e-5)
