"""MultiHeadAttention against Keras 3 (same weights): masks from tensors and as arguments, causal
mask, attention scores, gate, output_shape, higher-rank inputs; and from Keras-saved files."""
import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers.layers.base import get_mask, set_mask
from tests.layers.keras_reference import keras, keras_file_roundtrip, onnx_roundtrip, random_weights

B, T, S, F = 2, 4, 5, 6
RNG = np.random.default_rng(0)
Q, V, K = (RNG.standard_normal(s).astype("float32") for s in ((B, T, F), (B, S, 3), (B, S, 7)))
Q_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)
V_MASK = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)


def run_both(kwargs, arrays, masks=None, **call):
    ours, ref = sl.MultiHeadAttention(**kwargs).eval(), keras.layers.MultiHeadAttention(**kwargs)
    masks = masks or [None] * len(arrays)

    def tensors(convert, attach):
        ts = [convert(a) for a in arrays]
        for t, m in zip(ts, masks):
            if m is not None:
                attach(t, convert(m))
        return ts

    ref(*tensors(keras.ops.convert_to_tensor, keras.src.backend.set_keras_mask))
    ours(*tensors(torch.as_tensor, set_mask))
    ours.set_weights(random_weights(ref))
    mine = ours(*tensors(torch.as_tensor, set_mask), **call)
    theirs = ref(*tensors(keras.ops.convert_to_tensor, keras.src.backend.set_keras_mask), **call)
    return mine, theirs


def close(a, b, atol=1e-5):
    np.testing.assert_allclose(a.detach().numpy(), keras.ops.convert_to_numpy(b), atol=atol, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(num_heads=2, key_dim=3), dict(num_heads=3, key_dim=2, value_dim=4),
                                    dict(num_heads=2, key_dim=3, use_bias=False),
                                    dict(num_heads=2, key_dim=3, output_shape=(5,)),
                                    dict(num_heads=2, key_dim=3, use_gate=True)])
@pytest.mark.parametrize("masked", [False, True])
def test_mha_equals_keras_with_masks_on_the_tensors(kwargs, masked):
    masks = [Q_MASK, V_MASK, V_MASK] if masked else None
    mine, theirs = run_both(kwargs, [Q, V, K], masks)
    close(mine, theirs)
    km = keras.src.backend.get_keras_mask(theirs)
    assert (get_mask(mine) is None) == (km is None)
    if km is not None:
        np.testing.assert_array_equal(get_mask(mine).numpy(), keras.ops.convert_to_numpy(km))


@pytest.mark.parametrize("call", [dict(use_causal_mask=True), dict(return_attention_scores=True),
                                  dict(return_attention_scores=True, use_causal_mask=True)])
def test_mha_causal_mask_and_scores_equal_keras(call):
    mine, theirs = run_both(dict(num_heads=2, key_dim=3), [Q, Q], [Q_MASK, Q_MASK], **call)
    if call.get("return_attention_scores"):
        close(mine[0], theirs[0])
        close(mine[1], theirs[1])
        assert tuple(mine[1].shape) == (B, 2, T, T)
    else:
        close(mine, theirs)


def test_mha_mask_arguments_and_attention_mask_equal_keras():
    attention_mask = RNG.random((B, T, S)) > 0.3
    attention_mask[..., 0] = True
    # (as in Keras, the query's mask is read from the query tensor: a query_mask= argument is ignored)
    for call in (dict(attention_mask=attention_mask), dict(query_mask=Q_MASK, value_mask=V_MASK),
                 dict(value_mask=V_MASK, key_mask=V_MASK[:, ::-1].copy())):
        ours, ref = sl.MultiHeadAttention(2, 3), keras.layers.MultiHeadAttention(2, 3)
        ref(Q, V)
        ours(torch.from_numpy(Q), torch.from_numpy(V))
        ours.set_weights(random_weights(ref))
        mine = ours(torch.from_numpy(Q), torch.from_numpy(V), **{k: torch.from_numpy(v) for k, v in call.items()})
        close(mine, ref(Q, V, **call))


def test_mha_dropout_path_and_sliding_window_equal_keras_in_inference():
    mine, theirs = run_both(dict(num_heads=2, key_dim=3, dropout=0.3), [Q, Q], [Q_MASK, None])
    close(mine, theirs)
    mine, theirs = run_both(dict(num_heads=2, key_dim=3, sliding_window=2), [Q, Q], use_causal_mask=True)
    close(mine, theirs)


def test_mha_on_4d_inputs_equals_keras():
    x = RNG.standard_normal((B, 2, 3, F)).astype("float32")
    mine, theirs = run_both(dict(num_heads=2, key_dim=3), [x, x], return_attention_scores=True)
    close(mine[0], theirs[0])
    close(mine[1], theirs[1])


@pytest.mark.parametrize("q_dims,v_dims,axes",
                         [((3, 4), (3, 2), (2,)), ((3, 4), (3, 2), (-2,)), ((3, 4), (2, 5), (1, 2)),
                                            ((5, 3, 4), (5, 3, 2), (2, 3)), ((2, 3, 4), (2, 3, 5), (3, 1))])
def test_mha_over_chosen_attention_axes_equals_keras(q_dims, v_dims, axes):
    rng = np.random.default_rng(6)
    q = rng.standard_normal((2,) + q_dims + (8,)).astype("float32")
    v = rng.standard_normal((2,) + v_dims + (8,)).astype("float32")
    for kwargs in (dict(num_heads=2, key_dim=2, attention_axes=axes),
                   dict(num_heads=2, key_dim=2, attention_axes=axes, use_gate=True)):
        mine, theirs = run_both(kwargs, [q, v], return_attention_scores=True)
        close(mine[0], theirs[0])
        close(mine[1], theirs[1])
        assert tuple(mine[1].shape) == tuple(theirs[1].shape)
        mine, theirs = run_both(kwargs, [q, v])
        close(mine, theirs)


def test_attention_masks_of_every_keras_shape_give_the_same_output():
    x = torch.from_numpy(RNG.standard_normal((2, 5, 8)).astype("float32"))
    layer = sl.MultiHeadAttention(2, 4).eval()
    causal = torch.ones(5, 5).tril()
    outs = [layer(x, x, attention_mask=m) for m in (causal, causal.expand(2, 5, 5), causal.expand(2, 2, 5, 5))]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0])
    torch.testing.assert_close(outs[0], layer(x, x, use_causal_mask=True))


def test_keras_style_build_with_two_shapes_builds_every_weight():
    layer = sl.MultiHeadAttention(2, 3, use_gate=True)
    layer.build((2, 4, 8), (2, 5, 6))
    assert layer.built and [w.shape for w in layer.get_weights()][:2] == [(8, 2, 3), (2, 3)]
    assert tuple(layer(torch.zeros(2, 4, 8), torch.zeros(2, 5, 6)).shape) == (2, 4, 8)
    with pytest.raises(ValueError, match=r"value and key shapes must be equal except the last axis"):
        layer.compute_output_shape((2, 4, 8), (2, 5, 6), (2, 3, 6))


def test_mha_in_a_functional_model_with_scores_and_its_weights_layout():
    q, v = sl.Input(shape=(T, F)), sl.Input(shape=(S, 3))
    layer = sl.MultiHeadAttention(2, 3, use_gate=True)
    out, scores = layer(q, v, return_attention_scores=True)
    assert out.shape == (None, T, F) and scores.shape == (None, 2, T, S)
    model = sl.Model([q, v], [out, scores])
    got = model([torch.from_numpy(Q), torch.from_numpy(V)])
    assert tuple(got[1].shape) == (B, 2, T, S)
    ref = keras.layers.MultiHeadAttention(2, 3, use_gate=True)
    ref(Q, V)
    assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
    assert layer.count_params() == ref.count_params()
    clone = sl.MultiHeadAttention.from_config(layer.get_config())
    clone(torch.from_numpy(Q), torch.from_numpy(V))
    clone.set_weights(layer.get_weights())
    torch.testing.assert_close(clone(torch.from_numpy(Q), torch.from_numpy(V)),
                               layer(torch.from_numpy(Q), torch.from_numpy(V)))


def test_mha_gradients_reach_every_weight():
    layer = sl.MultiHeadAttention(2, 3, dropout=0.1)
    q = torch.from_numpy(Q).requires_grad_(True)
    layer.train()
    layer(q, torch.from_numpy(V)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert q.grad is not None


def test_mha_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"MultiHeadAttention: num_heads must be a positive integer, got 0"):
        sl.MultiHeadAttention(0, 3)
    with pytest.raises(ValueError,
                       match=r"MultiHeadAttention: value and key shapes must be equal except the last axis"):
        sl.MultiHeadAttention(2, 3)(torch.zeros(1, 4, 6), torch.zeros(1, 5, 3), torch.zeros(1, 6, 3))
    with pytest.raises(ValueError, match=r"MultiHeadAttention: attention_axes=\(3,\) must be distinct axes between"):
        sl.MultiHeadAttention(2, 3, attention_axes=3)(torch.zeros(1, 2, 4, 6), torch.zeros(1, 2, 4, 6))


def test_mha_loads_from_keras_files(tmp_path):
    ids = keras.Input((T,), dtype="int32")
    e = keras.layers.Embedding(9, F, mask_zero=True)(ids)
    h = keras.layers.MultiHeadAttention(2, 3, value_dim=4)(e, e)
    h = keras.layers.LayerNormalization()(keras.layers.Add()([e, h]))
    c = keras.layers.MultiHeadAttention(2, 2, use_gate=True, output_shape=(5,))(h, h, use_causal_mask=True)
    out = keras.layers.GlobalAveragePooling1D()(c)
    x = np.array([[1, 2, 3, 0], [4, 5, 6, 7]], dtype="int32")
    ours = keras_file_roundtrip(tmp_path, keras.Model(ids, out), x)
    onnx_roundtrip(ours, tmp_path / "mha.onnx", x)


def test_symbolic_keyword_call_keeps_a_known_batch_size():
    q, v = sl.Input(batch_shape=(1, T, F)), sl.Input(batch_shape=(1, S, 3))
    out, scores = sl.MultiHeadAttention(2, 3)(query=q, value=v, return_attention_scores=True)
    assert out.shape == (1, T, F) and scores.shape == (1, 2, T, S)


def test_float64_inputs_are_cast_and_float16_layers_run():
    layer = sl.MultiHeadAttention(2, 4, dtype="float16")
    layer.build((1, 4, 8), (1, 4, 8))
    out = layer(np.random.default_rng(0).random((1, 4, 8)), np.random.default_rng(1).random((1, 4, 8)))
    assert out.dtype == torch.float16 and tuple(out.shape) == (1, 4, 8)
    assert sl.MultiHeadAttention(2, 3)(torch.from_numpy(Q).double(),
                                       torch.from_numpy(V).double()).dtype == torch.float32


def test_mha_argument_errors_as_keras():
    with pytest.raises(ValueError, match=r"MultiHeadAttention: value_dim must be a positive integer, got 0"):
        sl.MultiHeadAttention(2, 3, value_dim=0)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: output_shape must be a positive integer or a tuple.*got "
                                         r"8.0"):
        sl.MultiHeadAttention(2, 3, output_shape=8.0)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: dropout \(here 0.1\) is not supported with "
                                         r"flash_attention=True"):
        sl.MultiHeadAttention(2, 3, dropout=0.1, flash_attention=True)
    with pytest.raises(ValueError, match=r"return_attention_scores=True is not supported with flash_attention=True"):
        sl.MultiHeadAttention(2, 3, flash_attention=True)(torch.from_numpy(Q), torch.from_numpy(Q),
                                                          return_attention_scores=True)


@pytest.mark.parametrize("scores", [False, True])  # the fused path and the explicit softmax
def test_mha_causal_mask_together_with_an_attention_mask_equals_keras(scores):
    attention_mask = RNG.random((B, T, T)) > 0.4
    attention_mask[..., 0] = True  # every query sees one key
    mine, theirs = run_both(dict(num_heads=2, key_dim=4), [Q, Q], use_causal_mask=True,
                            attention_mask=attention_mask, return_attention_scores=scores)
    for a, b in zip(mine if scores else [mine], theirs if scores else [theirs]):
        close(a, b)
    if scores:  # the causal part and the explicit part are both applied
        allowed = np.tril(np.ones((T, T), bool))[None] & attention_mask  # (B, T, T)
        weights = mine[1].detach().numpy()  # (B, heads, T, T)
        assert all((weights[b][:, ~allowed[b]] == 0).all() for b in range(B))


def test_each_projection_draws_its_own_initial_kernel_and_carries_the_constraints():
    layer = sl.MultiHeadAttention(num_heads=3, key_dim=4, use_gate=True, kernel_initializer="truncated_normal")
    layer.build((2, 4, 8), (2, 4, 8))
    kernels = {n: getattr(layer, f"{n}_kernel").detach().reshape(-1)[:12]
               for n in ("query", "key", "value", "gate", "output")}
    for name in ("key", "value", "gate", "output"):
        assert not torch.allclose(kernels["query"], kernels[name]), name
    for arg, weight in (("kernel_constraint", "kernel"), ("bias_constraint", "bias")):
        layer = sl.MultiHeadAttention(num_heads=2, key_dim=2, use_gate=True, **{arg: "non_neg"})
        layer.build((1, 2, 2), (1, 2, 2))
        for name in ("query", "key", "value", "gate", "output"):
            assert isinstance(getattr(layer, f"{name}_{weight}").constraint, sl.constraints.NonNeg), (name, weight)


def test_sliding_window_and_flash_attention_survive_the_config_round_trip():
    layer = sl.MultiHeadAttention(num_heads=2, key_dim=4, sliding_window=5, flash_attention=True)
    config = layer.get_config()
    assert config["sliding_window"] == 5 and config["flash_attention"] is True
    restored = sl.MultiHeadAttention.from_config(config)
    assert restored.sliding_window == 5 and restored.flash_attention is True
