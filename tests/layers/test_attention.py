"""Attention and AdditiveAttention against Keras 3 (torch backend) with the same weights and masks."""
import numpy as np
import pytest
import torch

from seqlayers import Dense, Input, Model
from seqlayers.layers.attention import AdditiveAttention, Attention

keras = pytest.importorskip("keras")

B, TQ, TV, F = 2, 3, 5, 4


def data(seed=0):
    g = np.random.default_rng(seed)
    return [g.standard_normal(s).astype("float32") for s in ((B, TQ, F), (B, TV, F), (B, TV, F))]


def both(ours, ref, inputs, **call):
    t = [torch.from_numpy(a) for a in inputs]
    ours(t)  # build
    ref([keras.ops.convert_to_tensor(a) for a in inputs])
    w = [np.random.default_rng(1).uniform(0.5, 1.5, np.shape(a)).astype("float32") for a in ref.get_weights()]
    ref.set_weights(w)
    ours.set_weights(w)
    kin = [keras.ops.convert_to_tensor(a) for a in inputs]
    kmask = call.pop("mask", None)
    mine = ours(t, mask=[torch.from_numpy(m) for m in kmask] if kmask else None, **call)
    theirs = ref(kin, mask=[keras.ops.convert_to_tensor(m) for m in kmask] if kmask else None, **call)
    return mine, theirs


def close(a, b):
    np.testing.assert_allclose(a.detach().numpy(), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"use_scale": True}, {"score_mode": "concat"},
                                    {"score_mode": "concat", "use_scale": True}])
def test_attention_equals_keras(kwargs):
    mine, theirs = both(Attention(**kwargs), keras.layers.Attention(**kwargs), data())
    close(mine, theirs)


@pytest.mark.parametrize("kwargs", [{}, {"use_scale": False}])
def test_additive_attention_equals_keras(kwargs):
    mine, theirs = both(AdditiveAttention(**kwargs), keras.layers.AdditiveAttention(**kwargs), data())
    close(mine, theirs)


def test_masks_scores_and_causal_mask_equal_keras():
    q_mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)
    v_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    q, v, k = data(2)
    v = v[:, :TQ]
    k = k[:, :TQ]
    (mine, mine_w), (theirs, theirs_w) = both(
        Attention(use_scale=True), keras.layers.Attention(use_scale=True), [q, v, k],
        mask=[q_mask, v_mask[:, :TQ]], return_attention_scores=True, use_causal_mask=True)
    close(mine, theirs)
    close(mine_w, theirs_w)
    (mine, mine_w), (theirs, theirs_w) = both(
        AdditiveAttention(), keras.layers.AdditiveAttention(), data(3), mask=[q_mask, v_mask],
        return_attention_scores=True)
    close(mine, theirs)
    close(mine_w, theirs_w)
    assert float(mine_w[0, :, 3:].abs().max()) == 0.0  # padded value steps get no weight


def test_the_query_mask_is_the_output_mask_in_a_functional_model():
    from seqlayers import Embedding
    from seqlayers.layers.base import get_mask

    ids = Input(shape=(None,), dtype="int64")
    e = Embedding(10, F, mask_zero=True)(ids)
    model = Model(ids, Attention()([e, e]))
    x = torch.tensor([[1, 2, 0], [3, 0, 0]])
    y = model(x)
    assert torch.equal(get_mask(y), x != 0)
    assert float(y[1, 1:].abs().max()) == 0.0


def test_weights_config_and_shape():
    layer = Attention(use_scale=True, score_mode="concat")
    y = layer([torch.randn(B, TQ, F), torch.randn(B, TV, 6)[..., :F]])
    assert tuple(y.shape) == (B, TQ, F)
    assert [tuple(w.shape) for w in layer.get_weights()] == [(), ()]
    again = Attention.from_config(layer.get_config())
    assert again.use_scale and again.score_mode == "concat"
    add = AdditiveAttention()
    add([torch.randn(B, TQ, F), torch.randn(B, TV, F)])
    assert [tuple(w.shape) for w in add.get_weights()] == [(F,)]
    x = Input(shape=(TQ, F))
    m = Input(shape=(TV, F))
    assert Model([x, m], Dense(2)(AdditiveAttention()([x, m]))).outputs[0].shape == (None, TQ, 2)


def test_errors_teach_the_call_form():
    with pytest.raises(ValueError, match=r"expected a list \[query, value\] or \[query, value, key\].*"
                                         r"Attention\(\)\(\[decoder_outputs, encoder_outputs\]\)"):
        Attention()(torch.randn(B, TQ, F))
    with pytest.raises(ValueError, match="score_mode must be 'dot' or 'concat', got 'general'"):
        Attention(score_mode="general")
    with pytest.raises(ValueError, match="needs return_sequences=True"):
        Attention()([torch.randn(B, F), torch.randn(B, TV, F)])


def test_symbolic_call_with_scores_returns_two_tensors_as_the_eager_call():
    q, v = Input(shape=(TQ, F)), Input(shape=(TV, F))
    out, scores = Attention()([q, v], return_attention_scores=True)
    assert out.shape == (None, TQ, F) and scores.shape == (None, TQ, TV)
    model = Model([q, v], [out, scores])
    a, b, _ = (torch.from_numpy(x) for x in data())
    eager_out, eager_scores = Attention()([a, b], return_attention_scores=True)
    got = model([a, b])
    assert [tuple(t.shape) for t in got] == [tuple(eager_out.shape), tuple(eager_scores.shape)]
    torch.testing.assert_close(got[1].sum(-1), torch.ones(B, TQ))


@pytest.mark.parametrize("cls", [Attention, AdditiveAttention])
def test_a_bare_tensor_mask_or_a_list_of_one_is_refused_as_keras_does(cls):
    q, v, _ = (torch.from_numpy(x) for x in data())
    with pytest.raises(ValueError,
                       match=rf"{cls.__name__}: mask must be a list \[query_mask, value_mask\], got a Tensor"):
        cls()([q, v], mask=torch.ones(B, TV, dtype=torch.bool))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: mask must be a list of 2 or 3 masks.*got a list of 1"):
        cls()([q, v], mask=[torch.ones(B, TQ, dtype=torch.bool)])


def test_numpy_masks_equal_tensor_masks():
    q, v, _ = (torch.from_numpy(x) for x in data())
    v_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    layer = Attention()
    torch.testing.assert_close(layer([q, v], mask=[None, v_mask]), layer([q, v], mask=[None, torch.from_numpy(v_mask)]))


@pytest.mark.parametrize("kwargs", [{}, {"use_scale": True}, {"score_mode": "concat"}])
def test_attention_on_4d_inputs_equals_keras_with_masks(kwargs):
    rng = np.random.default_rng(5)
    q, v = rng.standard_normal((B, 2, TQ, F)).astype("float32"), rng.standard_normal((B, 2, TV, F)).astype("float32")
    q_mask = rng.random((B, 2, TQ)) > 0.3
    v_mask = rng.random((B, 2, TV)) > 0.3
    v_mask[..., 0] = True
    # (Keras broadcasts a value mask of rank > 2 over the query steps only with use_causal_mask)
    (mine, mine_w), (theirs, theirs_w) = both(Attention(**kwargs), keras.layers.Attention(**kwargs), [q, v[:, :, :TQ]],
                                              mask=[q_mask, v_mask[..., :TQ]], return_attention_scores=True,
                                              use_causal_mask=True)
    close(mine, theirs)
    close(mine_w, theirs_w)
    (mine, mine_w), (theirs, theirs_w) = both(AdditiveAttention(), keras.layers.AdditiveAttention(), [q, v],
                                              return_attention_scores=True)
    close(mine, theirs)
    close(mine_w, theirs_w)
