"""The native LSTM/GRU inference loops (layers/rnn_native.py, native/gated_loop.cpp): chosen only
when no gradient is needed; equal to torch's nn.LSTM/nn.GRU with copied weights and to the exact step
loop, with masks (right-padded and with holes), go_backwards, Bidirectional, return_state and
stateful layers, on the AVX-512 kernels (the LSTM's and GRU reset_after's fused steps, lstm_fused and
gru_fused, for any number of rows up to F + H = 160 / 213; else the product of a single row), MKL's sgemm
(more rows) and MKL only."""
import contextlib

import pytest
import torch
from torch import nn

from seqlayers import GRU, LSTM, Bidirectional, native
from tests.layers.threads import require_native, torch_threads

TOL = dict(atol=3e-6, rtol=0)  # the rational tanh/sigmoid (<= 2.9e-7 a call) over a few steps


@pytest.fixture(scope="module", autouse=True)
def built():
    require_native()


@pytest.fixture(params=["own", "blas"])
def product(request):
    """The recurrent product through the hand-written AVX-512 kernels where the CPU has them, and MKL's."""
    return native.blas_only if request.param == "blas" else contextlib.nullcontext


def _loop(layer, *args, **kwargs):
    layer._allow_fused = False
    try:
        with torch.no_grad():
            return layer(*args, **kwargs)
    finally:
        layer._allow_fused = True


def _close(a, b):
    for u, v in zip(a if isinstance(a, (list, tuple)) else [a], b if isinstance(b, (list, tuple)) else [b],
                    strict=True):
        torch.testing.assert_close(u, v, **TOL)


def _masks(B, T):
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = T
    right = torch.arange(T)[None, :] < lengths[:, None]  # right-padded, one empty row unless drawn otherwise
    right[1] = False
    holes = torch.rand(B, T, generator=g) > 0.35  # arbitrary
    return {"right": right, "holes": holes}


def test_gate_activations_error_against_float64():
    x = torch.linspace(-12, 12, 2_000_001)
    for sigmoid, bound in [(True, 2e-7), (False, 3e-7)]:
        ref = torch.sigmoid(x.double()) if sigmoid else torch.tanh(x.double())
        got = torch.ops.seqlayers_native.gate_activation(x, sigmoid).double()
        assert (got - ref).abs().max().item() < bound
    got = torch.ops.seqlayers_native.gate_activation(torch.tensor([0.0, 1e-5, 30.0, -30.0]), False).tolist()
    assert got == [0.0, pytest.approx(1e-5, rel=1e-6), pytest.approx(1.0, abs=3e-7), pytest.approx(-1.0, abs=3e-7)]


# (B, T, F, H): a tail of H % 16; groups of 6 + 5, 5 x 6 and 5 + 4 + 4 rows (the LSTM's fused product
# and cell update, F + H <= 160) at even and odd T (its two state buffers); one row; F + H > 160 (the
# LSTM through sgemm, or for one row the AVX-512 product, then the gate pass)
SHAPES = [(11, 6, 3, 40), (30, 5, 20, 24), (1, 1, 2, 16), (13, 4, 5, 150), (4, 3, 150, 20), (1, 5, 200, 16)]


@pytest.mark.parametrize("B,T,F,H", SHAPES)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
# repeated: RepeatVector's stride-0 input, projected once with b_ih (torch's biases are not zero, as a
# GRU's default ones are: the fused steps must not add b_ih a second time)
@pytest.mark.parametrize("repeated", [False, True])
# initial: states given, or none (zeros: the first step's product then skips h, h @ W_hh^T being 0)
@pytest.mark.parametrize("initial", [True, False])
def test_native_equals_torch_module_with_copied_weights(kind, B, T, F, H, repeated, initial, product):
    torch.manual_seed(0)
    ref = (nn.LSTM if kind == "lstm" else nn.GRU)(F, H, batch_first=True)
    layer = (LSTM if kind == "lstm" else GRU)(H, return_sequences=True, return_state=True)
    x = torch.randn(B, 1, F).expand(B, T, F) if repeated else torch.randn(B, T, F)
    layer(x)
    with torch.no_grad():
        layer.cell.weight_ih.copy_(ref.weight_ih_l0)
        layer.cell.weight_hh.copy_(ref.weight_hh_l0)
        layer.cell.bias.copy_(ref.bias_ih_l0)
        second = layer.cell.bias_hh if kind == "gru" else None
        if second is not None:
            second.copy_(ref.bias_hh_l0)
        else:
            layer.cell.bias.add_(ref.bias_hh_l0)
        h0 = torch.randn(B, H) if initial else torch.zeros(B, H)
        states = [h0, torch.randn(B, H) if initial else torch.zeros(B, H)] if kind == "lstm" else [h0]
        with product():
            out, *final = layer(x, initial_state=states if initial else None)
        assert layer.last_path == "native"
        want, hx = ref(x, (states[0][None], states[1][None]) if kind == "lstm" else states[0][None])
    _close(out, want)
    _close(final, [hx[0][0], hx[1][0]] if kind == "lstm" else [hx[0]])


CELLS = {"lstm": lambda H, **kw: LSTM(H, **kw), "gru": lambda H, **kw: GRU(H, **kw),
         "gru_reset_before": lambda H, **kw: GRU(H, reset_after=False, **kw)}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("mask", [None, "right", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_native_equals_the_step_loop(cell, mask, go_backwards, zero_output, product):
    torch.manual_seed(2)
    B, T, F, H = 13, 7, 5, 24
    layer = CELLS[cell](H, return_sequences=True, return_state=True, go_backwards=go_backwards,
                        zero_output_for_mask=zero_output)
    x = torch.randn(B, T, F)
    m = None if mask is None else _masks(B, T)[mask]
    layer(x)
    with torch.no_grad(), product():
        got = layer(x, mask=m)
    assert layer.last_path == ("native" if mask is None else "native_masked")
    _close(got, _loop(layer, x, mask=m))
    assert layer.last_path == "loop"


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("mask", ["right", "holes"])
def test_native_masked_batch_of_many_rows_equals_the_step_loop(cell, mask, product):
    # 40 rows, some steps with only a few active: the work over the active rows only (sgemm's products;
    # with the own kernels the LSTM and GRU reset_after run lstm_fused / gru_fused, the inactive rows' h
    # copied into the other state buffer)
    torch.manual_seed(4)
    B, T, F, H = 40, 9, 6, 32
    layer = CELLS[cell](H, return_sequences=True, return_state=True)
    x = torch.randn(B, T, F)
    m = _masks(B, T)[mask]
    m[:30, 6:] = False  # the last steps keep only rows 30..39 (or fewer) active
    layer(x)
    with torch.no_grad(), product():
        got = layer(x, mask=m)
    assert layer.last_path == "native_masked"
    _close(got, _loop(layer, x, mask=m))


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("mask", [None, "right", "holes"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_native_bidirectional_equals_the_step_loop(cell, mask, merge_mode):
    torch.manual_seed(3)
    B, T, F, H = 9, 6, 4, 16
    bi = Bidirectional(CELLS[cell](H, return_sequences=True), merge_mode=merge_mode)
    x = torch.randn(B, T, F)
    m = None if mask is None else _masks(B, T)[mask]
    bi(x)
    with torch.no_grad():
        got = bi(x, mask=m)
    assert bi.last_path == (("native_bidirectional",) * 2 if mask is None else ("native_masked",) * 2)
    for sub in (bi.forward_layer, bi.backward_layer):
        sub._allow_fused = False
    with torch.no_grad():
        want = bi(x, mask=m)
    assert bi.last_path == ("loop", "loop")
    _close(got, want)


def test_native_bidirectional_equals_nn_lstm_bidirectional():
    torch.manual_seed(4)
    ref = nn.LSTM(3, 8, batch_first=True, bidirectional=True)
    bi = Bidirectional(LSTM(8, return_sequences=True))
    x = torch.randn(4, 5, 3)
    bi(x)
    with torch.no_grad():
        for layer, sfx in [(bi.forward_layer, ""), (bi.backward_layer, "_reverse")]:
            layer.cell.weight_ih.copy_(getattr(ref, "weight_ih_l0" + sfx))
            layer.cell.weight_hh.copy_(getattr(ref, "weight_hh_l0" + sfx))
            layer.cell.bias.copy_(getattr(ref, "bias_ih_l0" + sfx) + getattr(ref, "bias_hh_l0" + sfx))
        got = bi(x)
        want, _ = ref(x)
    assert bi.last_path == ("native_bidirectional",) * 2
    _close(got, want)


@pytest.mark.parametrize("cell", [LSTM, GRU])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_native_on_two_threads_equals_one_thread(cell, bidirectional):
    """With two torch threads a call above 2^21 multiply-adds runs its two directions, or the two
    halves of its batch, at once, each with MKL on one thread: the same result as one thread, masked
    or not."""
    torch.manual_seed(5)
    layer = cell(64, return_sequences=True, return_state=True)
    bi = Bidirectional(layer) if bidirectional else layer
    x = torch.randn(32, 40, 8)
    mask = torch.arange(40)[None, :] < torch.randint(1, 41, (32, 1))
    results = []
    for threads in (1, 2):
        with torch_threads(threads):
            with torch.no_grad():
                results.append([bi(x), bi(x, mask=mask)])
    path = bi.last_path[0] if bidirectional else bi.last_path
    assert path.startswith("native")
    for a, b in zip(*results):
        for u, v in zip(a, b):
            _close(u, v)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("return_sequences", [True, False])
def test_native_on_three_threads_in_uneven_chunks_equals_the_step_loop(cell, return_sequences):
    """Three threads split 25 rows into chunks of 8, 8 and 9 (H = 40: a vector tail): the chunk
    offsets of x, a repeated input's projection, the mask, the output and the states, with a chunk
    whose rows are all masked."""
    torch.manual_seed(8)
    B, T, F, H = 25, 40, 8, 40
    layer = CELLS[cell](H, return_sequences=return_sequences, return_state=True)
    x = torch.randn(B, T, F)
    repeated = torch.randn(B, F)[:, None].expand(B, T, F)
    mask = _masks(B, T)["holes"]
    mask[:8] = False  # the first chunk: no active row at any step
    layer(x)
    with torch_threads(3):
        for inputs, m in [(x, None), (x, mask), (repeated, None), (repeated, mask)]:
            with torch.no_grad():
                got = layer(inputs, mask=m)
            assert layer.last_path.startswith("native")
            with torch.no_grad(), native.disabled():
                want = layer(inputs, mask=m)
            _close(got, want)


def test_native_is_chosen_only_without_gradients():
    layer = LSTM(4, return_sequences=True)
    x = torch.randn(2, 5, 3)
    layer(x)  # the parameters require grad
    assert layer.last_path == "fused"
    with torch.no_grad():
        layer(x)
    assert layer.last_path == "native"
    with torch.inference_mode():
        layer(x)
    assert layer.last_path == "native"
    layer.requires_grad_(False)
    layer(x.requires_grad_(True))  # the input requires grad
    assert layer.last_path == "fused"
    with torch.no_grad(), native.disabled():
        layer(x)
    assert layer.last_path == "fused"
    with torch.no_grad():
        layer.double()(x.double())  # float32 only
    assert layer.last_path == "fused"


def test_native_is_not_chosen_for_dropout_in_training_nor_while_tracing():
    layer = GRU(4, dropout=0.5, return_sequences=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        layer(x, training=True)  # an input dropout mask was drawn
        assert layer.last_path == "fused"
        layer(x, training=False)
        assert layer.last_path == "native"
        traced = torch.jit.trace(layer, (x,), check_trace=False)
    assert "gated_rnn_forward" not in str(traced.graph)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_native_carries_the_states_like_the_loop(kind):
    torch.manual_seed(5)
    make = LSTM if kind == "lstm" else GRU
    a = make(6, stateful=True, return_sequences=True)
    b = make(6, stateful=True, return_sequences=True)
    x = torch.randn(3, 4, 2)
    a(x)
    b(x)
    b.set_weights(a.get_weights())
    a.reset_states()
    b.reset_states()
    b._allow_fused = False
    with torch.no_grad():
        for chunk in torch.randn(5, 3, 4, 2):
            _close(a(chunk), b(chunk))
            assert a.last_path == "native" and b.last_path == "loop"
    _close(a.states, b.states)


def test_a_large_lstm_is_left_to_torchs_kernel_and_a_large_gru_is_not():
    x = torch.randn(2, 3, 8)
    big, gru = LSTM(320, return_sequences=True), GRU(320, return_sequences=True)
    with torch.no_grad():
        big(x)
        gru(x)
    assert big.last_path == "fused" and gru.last_path == "native"


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("mask", [None, "right", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_native_on_a_repeated_input_equals_the_step_loop(cell, mask, go_backwards, product):
    # RepeatVector's output is an expand (stride 0 in time): its projection is made once per direction
    torch.manual_seed(5)
    B, T, F, H = 30, 5, 7, 24
    layer = CELLS[cell](H, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = torch.randn(B, F)[:, None].expand(B, T, F)
    assert x.stride(1) == 0
    m = None if mask is None else _masks(B, T)[mask]
    layer(x.contiguous())
    with torch.no_grad(), product():
        got = layer(x, mask=m)
    assert layer.last_path == ("native" if mask is None else "native_masked")
    _close(got, _loop(layer, x.contiguous(), mask=m))


@pytest.mark.parametrize("cell", list(CELLS))
def test_native_on_a_repeated_input_under_cpu_autocast_stays_float32(cell):
    """Under torch.autocast("cpu") the loop's one projection of a repeated input (at::addmm) must not
    come back bfloat16 (it raised "expected scalar type Float but found BFloat16")."""
    torch.manual_seed(7)
    layer = CELLS[cell](12, return_sequences=True, return_state=True)
    x = torch.randn(4, 3)[:, None].expand(4, 5, 3)
    layer(x.contiguous())
    with torch.no_grad():
        want = layer(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = layer(x)
    assert layer.last_path == "native"
    _close(got, want)


@pytest.mark.parametrize("cell", list(CELLS))
def test_native_bidirectional_on_a_repeated_input_equals_the_step_loop(cell):
    torch.manual_seed(6)
    bi = Bidirectional(CELLS[cell](16, return_sequences=True))
    x = torch.randn(9, 3)[:, None].expand(9, 6, 3)
    bi(x)
    with torch.no_grad():
        got = bi(x)
    assert bi.last_path == ("native_bidirectional",) * 2
    for sub in (bi.forward_layer, bi.backward_layer):
        sub._allow_fused = False
    with torch.no_grad():
        want = bi(x.contiguous())
    _close(got, want)


def test_the_inference_op_refuses_weights_for_another_input_width():
    w_ih, w_hh = torch.randn(16, 5), torch.randn(16, 4)  # an LSTM(4) for 5 features
    with pytest.raises(RuntimeError, match=r"w_ih \(G\*H, F\) with F = x's 3 features"):
        torch.ops.seqlayers_native.gated_rnn_forward(torch.randn(2, 3, 3), 0, [w_ih], [w_hh], [None], [None], [None],
                                                     [None], None, [False], [False], False, True, False)


AVX512 = torch.backends.cpu.get_cpu_capability() == "AVX512"


# (cell, B, T, F, H, repeated, the loop on an AVX-512 CPU): the fused one-pass steps up to F + H = 160
# (LSTM) / 213 (GRU, reset_after), H alone counting for an input repeated in time (its projection made
# once); past that, and for GRU reset_before, a product then the gate pass
LOOPS = [("lstm", 64, 5, 8, 128, False, "lstm_fused"),    # W1
         ("lstm", 32, 5, 100, 128, False, "gate_pass"),   # W2: F + H = 228
         ("lstm", 16, 4, 128, 128, True, "lstm_fused"),   # W3's decoder: F + H = 256, H = 128
         ("lstm", 16, 4, 128, 40, False, "gate_pass"),    # F + H = 168
         ("gru", 64, 5, 8, 128, False, "gru_fused"),      # W6
         ("gru", 8, 4, 200, 16, True, "gru_fused"),       # F + H = 216, repeated
         ("gru", 8, 4, 200, 16, False, "gate_pass"),
         ("gru_reset_before", 8, 4, 8, 32, False, "gate_pass")]


@pytest.mark.parametrize("cell,B,T,F,H,repeated,expected", LOOPS)
def test_each_shape_runs_the_loop_meant_for_it(cell, B, T, F, H, repeated, expected):
    # the values are the same through every path (the tests above), so only last_loop() tells a kernel
    # that silently stopped being chosen (a W1 on the gate pass costs ~5% more)
    torch.manual_seed(0)
    layer = CELLS[cell](H, return_sequences=True)
    x = torch.randn(B, 1, F).expand(B, T, F) if repeated else torch.randn(B, T, F)
    with torch.no_grad():
        layer(x)
        assert layer.last_path == "native"
        assert native.last_loop() == (expected if AVX512 else "gate_pass")
        with native.blas_only():
            layer(x)
        assert native.last_loop() == "gate_pass"


def test_last_loop_is_none_after_a_call_that_ran_no_steps():
    # an empty batch takes the native path but runs no loop: last_loop() must not name the previous call's
    layer = GRU(16, return_sequences=True)
    with torch.no_grad():
        layer(torch.randn(3, 4, 8))
        assert native.last_loop() == ("gru_fused" if AVX512 else "gate_pass")
        layer(torch.randn(0, 4, 8))
    assert layer.last_path == "native"
    assert native.last_loop() == "none"
