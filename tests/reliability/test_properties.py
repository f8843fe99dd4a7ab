"""Properties that must hold for any shape and configuration (hypothesis).

Each property compares a layer against an independent reference built from simpler pieces (the
same layer run per step, per sample, on a reversed or unpadded input, or on the exact step loop),
with the same weights copied through ``get_weights`` / ``set_weights``.

Example counts: ``SEQLAYERS_PROPERTY_EXAMPLES`` (default 40 per property; derandomized, so CI runs
the same examples every time). docs/reliability.md records the counts.
"""
from __future__ import annotations

import os

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlayers import GRU, LSTM, Activation, Bidirectional, Dense, Sequential, SimpleRNN, TimeDistributed

EXAMPLES = int(os.environ.get("SEQLAYERS_PROPERTY_EXAMPLES", "40"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
ATOL = 1e-5

RNNS = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}
rnn_names = st.sampled_from(sorted(RNNS))
sizes = st.integers(1, 4)
steps = st.integers(1, 6)
seeds = st.integers(0, 2**16)


def close(a, b, atol=ATOL):
    torch.testing.assert_close(a, b, atol=atol, rtol=1e-4)


def twin(layer_cls, like, x, **kwargs):
    """A second layer of ``layer_cls(**kwargs)`` carrying ``like``'s weights (built on ``x``)."""
    other = layer_cls(**kwargs)
    other.eval()
    other(x)
    other.set_weights(like.get_weights())
    return other


def loop_twin(name, like, x, **kwargs):
    """The same RNN forced onto the exact step loop: a tanh that is not torch.tanh is not fusable."""
    return twin(RNNS[name], like, x, activation=lambda v: torch.tanh(v), **kwargs)


# ================================================================ per-step layers
@PROPERTY
@given(B=sizes, T=steps, F=sizes, H=sizes, extra=st.integers(0, 1), seed=seeds,
       act=st.sampled_from(["linear", "relu", "tanh", "softmax"]), nested=st.booleans())
def test_time_distributed_equals_the_layer_at_every_step(B, T, F, H, extra, seed, act, nested):
    torch.manual_seed(seed)
    inner = Sequential([Dense(H), Activation(act)]) if nested else Dense(H, activation=act)
    td = TimeDistributed(inner)
    x = torch.randn(B, T, *([2] * extra), F)
    y = td(x)
    assert y.shape[:2] == (B, T)
    for t in range(T):
        close(y[:, t], inner(x[:, t]))


@PROPERTY
@given(B=sizes, T=steps, F=sizes, H=sizes, seed=seeds, use_bias=st.booleans())
def test_dense_on_3d_input_equals_dense_per_step(B, T, F, H, seed, use_bias):
    torch.manual_seed(seed)
    d = Dense(H, use_bias=use_bias)
    x = torch.randn(B, T, F)
    y = d(x)
    for t in range(T):
        close(y[:, t], d(x[:, t]))
    kernel = d.get_weights()[0]
    close(y, x @ torch.from_numpy(kernel) + (torch.from_numpy(d.get_weights()[1]) if use_bias else 0))


# ================================================================ recurrent layers
@st.composite
def right_padded(draw, B, T):
    lengths = [draw(st.integers(1, T)) for _ in range(B)]
    return torch.tensor([[t < n for t in range(T)] for n in lengths])


@PROPERTY
@given(name=rnn_names, B=sizes, T=steps, F=sizes, H=sizes, pad=st.integers(1, 4), seed=seeds,
       ret_seq=st.booleans(), zero_out=st.booleans())
def test_appending_masked_padding_changes_no_valid_output_or_final_state(name, B, T, F, H, pad, seed, ret_seq,
                                                                         zero_out):
    torch.manual_seed(seed)
    layer = RNNS[name](H, return_sequences=ret_seq, return_state=True, zero_output_for_mask=zero_out)
    layer.eval()
    x = torch.randn(B, T, F)
    out, *states = layer(x)
    padded = torch.cat([x, 100 * torch.randn(B, pad, F)], dim=1)  # garbage in the padding
    mask = torch.arange(T + pad)[None, :].expand(B, -1) < T
    out_p, *states_p = layer(padded, mask=mask)
    assert layer.last_path == "fused_padded"
    if ret_seq:
        close(out_p[:, :T], out)
    elif zero_out:  # Keras quirk, kept: the "last output" is the last step's, zeroed when it is padding
        close(out_p, torch.zeros_like(out))
    else:
        close(out_p, out)
    for s, s_p in zip(states, states_p):
        close(s_p, s)


@PROPERTY
@given(name=rnn_names, B=sizes, T=steps, F=sizes, H=sizes, seed=seeds, ret_seq=st.booleans(),
       data=st.data())
def test_masked_steps_anywhere_are_skipped(name, B, T, F, H, seed, ret_seq, data):
    """An arbitrary mask (holes, leading padding) equals running each sample on its valid steps only."""
    torch.manual_seed(seed)
    layer = RNNS[name](H, return_sequences=ret_seq, return_state=True)
    layer.eval()
    x = torch.randn(B, T, F)
    mask = torch.tensor(data.draw(st.lists(st.lists(st.booleans(), min_size=T, max_size=T), min_size=B, max_size=B)))
    out, *states = layer(x, mask=mask)
    for b in range(B):
        keep = mask[b].nonzero().flatten()
        if len(keep) == 0:  # fully masked: zeros and the initial (zero) states, as Keras
            assert all(torch.equal(s[b], torch.zeros(H)) for s in states)
            continue
        ref_out, *ref_states = layer(x[b:b + 1, keep])
        for s, r in zip(states, ref_states):
            close(s[b], r[0])
        if ret_seq:
            close(out[b, keep], ref_out[0])
        else:
            close(out[b], ref_out[0])


@PROPERTY
@given(name=rnn_names, B=sizes, T=steps, F=sizes, H=sizes, seed=seeds, ret_seq=st.booleans(),
       masked=st.booleans(), data=st.data())
def test_go_backwards_equals_running_on_the_reversed_input(name, B, T, F, H, seed, ret_seq, masked, data):
    """Keras semantics: go_backwards reads x[T-1], ..., x[0] and returns the outputs in that order."""
    torch.manual_seed(seed)
    x = torch.randn(B, T, F)
    mask = data.draw(right_padded(B, T)) if masked else None
    back = RNNS[name](H, go_backwards=True, return_sequences=ret_seq, return_state=True)
    back.eval()
    got = back(x, mask=mask)
    fwd = twin(RNNS[name], back, x, units=H, return_sequences=ret_seq, return_state=True)
    want = fwd(x.flip(1), mask=None if mask is None else mask.flip(1))
    for a, b in zip(got, want):
        close(a, b)


@PROPERTY
@given(name=rnn_names, B=sizes, T=steps, F=sizes, H=sizes, seed=seeds, ret_seq=st.booleans(),
       backwards=st.booleans(), zero_out=st.booleans(), masked=st.booleans(), data=st.data())
def test_fused_path_equals_the_step_loop(name, B, T, F, H, seed, ret_seq, backwards, zero_out, masked, data):
    torch.manual_seed(seed)
    kw = dict(return_sequences=ret_seq, return_state=True, go_backwards=backwards, zero_output_for_mask=zero_out)
    fused = RNNS[name](H, **kw)
    x = torch.randn(B, T, F, requires_grad=True)
    mask = data.draw(right_padded(B, T)) if masked else None
    got = fused(x, mask=mask)
    assert fused.last_path == ("fused_padded" if masked and not bool(mask.all()) else "fused")
    loop = loop_twin(name, fused, x.detach(), units=H, **kw)
    x2 = x.detach().clone().requires_grad_(True)
    want = loop(x2, mask=mask)
    assert loop.last_path == "loop"
    for a, b in zip(got, want):
        close(a, b)
    g = torch.randn_like(got[0])
    (got[0] * g).sum().backward()
    (want[0] * g).sum().backward()
    close(x.grad, x2.grad, atol=1e-4)


def _manual_direction(layer, x, mask, reverse):
    """Run ``layer`` on each sample's valid steps (reversed for the backward half), back in time order."""
    B, T, _ = x.shape
    seqs, lasts = [], []
    for b in range(B):
        n = int(mask[b].sum()) if mask is not None else T
        xb = x[b:b + 1, :n]
        out = layer(xb.flip(1) if reverse else xb)
        seq = out.flip(1) if reverse else out  # back into time order
        seqs.append(torch.cat([seq, torch.zeros(1, T - n, seq.shape[-1])], dim=1))  # zeros at padding
        lasts.append(out[:, -1])
    return torch.cat(seqs), torch.cat(lasts)


@PROPERTY
@given(name=rnn_names, B=sizes, T=steps, F=sizes, H=sizes, seed=seeds, ret_seq=st.booleans(),
       merge=st.sampled_from(["concat", "sum", "ave", "mul", None]), masked=st.booleans(), data=st.data())
def test_bidirectional_equals_manual_forward_and_backward(name, B, T, F, H, seed, ret_seq, merge, masked, data):
    torch.manual_seed(seed)
    bi = Bidirectional(RNNS[name](H, return_sequences=ret_seq), merge_mode=merge)
    bi.eval()
    x = torch.randn(B, T, F)
    mask = data.draw(right_padded(B, T)) if masked else None
    got = bi(x, mask=mask)
    # independent directions: plain forward layers (no go_backwards) with the halves' weights
    fwd = twin(RNNS[name], bi.forward_layer, x, units=H, return_sequences=True)
    bwd = twin(RNNS[name], bi.backward_layer, x, units=H, return_sequences=True)
    f_seq, f_last = _manual_direction(fwd, x, mask, reverse=False)
    b_seq, b_last = _manual_direction(bwd, x, mask, reverse=True)
    f, b = (f_seq, b_seq) if ret_seq else (f_last, b_last)
    want = {"concat": lambda: torch.cat([f, b], -1), "sum": lambda: f + b, "ave": lambda: (f + b) / 2,
            "mul": lambda: f * b, None: lambda: [f, b]}[merge]()
    if merge is None:
        close(got[0], want[0])
        close(got[1], want[1])
    else:
        close(got, want)


# ================================================================ save -> load
@PROPERTY
@given(name=rnn_names, T=steps, F=sizes, H=sizes, seed=seeds, bidi=st.booleans(), ret_seq=st.booleans(),
       zip_file=st.booleans(), masked=st.booleans(), head=st.sampled_from(["dense", "td", "none"]))
def test_save_then_load_is_the_identity(tmp_path_factory, name, T, F, H, seed, bidi, ret_seq, zip_file, masked, head):
    from seqlayers import Input, Masking, Model, load_model

    torch.manual_seed(seed)
    rnn = RNNS[name](H, return_sequences=ret_seq)
    inp = Input(shape=(T, F))
    h = Masking()(inp) if masked else inp
    h = Bidirectional(rnn)(h) if bidi else rnn(h)
    if head == "dense":
        h = Dense(2)(h)
    elif head == "td" and ret_seq:
        h = TimeDistributed(Dense(2, activation="softmax"))(h)
    model = Model(inp, h)
    x = torch.randn(3, T, F)
    x[0, T // 2:] = 0.0  # masked steps when Masking is on
    model.eval()
    want = model(x)
    path = tmp_path_factory.mktemp("save") / ("m.seqlayers" if zip_file else "m")
    model.save(path)
    loaded = load_model(path)
    assert torch.equal(loaded(x), want)  # bit-identical
    assert [w.shape for w in loaded.get_weights()] == [w.shape for w in model.get_weights()]
