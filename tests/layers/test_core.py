"""Core layers against independent references: plain torch with copied weights, and per-step application."""
import pytest
import torch
import torch.nn.functional as F

from seqlayers import (
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Lambda,
    Masking,
    RepeatVector,
    Reshape,
    Sequential,
    TimeDistributed,
    TimeDistributedDense,
    get_mask,
)
from seqlayers.activations import ACTIVATIONS
from tests.layers.checker import check_layer


@pytest.mark.parametrize("cls,kwargs,shape,out,vocab", [
    (Dense, {"units": 3}, (4, 5), (4, 3), None),
    (Dense, {"units": 3, "activation": "tanh"}, (4, 6, 5), (4, 6, 3), None),
    (Dense, {"units": 2, "use_bias": False}, (2, 3, 4, 5), (2, 3, 4, 2), None),
    (Activation, {"activation": "softmax"}, (2, 3, 4), (2, 3, 4), None),
    (Dropout, {"rate": 0.5}, (2, 3, 4), (2, 3, 4), None),
    (Embedding, {"input_dim": 10, "output_dim": 4, "mask_zero": True}, (2, 7), (2, 7, 4), 10),
    (Masking, {"mask_value": 0.0}, (2, 7, 3), (2, 7, 3), None),
    (RepeatVector, {"n": 4}, (2, 3), (2, 4, 3), None),
    (Flatten, {}, (2, 3, 4), (2, 12), None),
    (Reshape, {"target_shape": (4, 3)}, (2, 3, 4), (2, 4, 3), None),
    (Reshape, {"target_shape": (-1, 2)}, (2, 3, 4), (2, 6, 2), None),
    (TimeDistributedDense, {"units": 3}, (2, 5, 4), (2, 5, 3), None),
])
def test_every_core_layer_passes_the_shared_checker(cls, kwargs, shape, out, vocab):
    check_layer(cls, kwargs, shape, out, int_vocab=vocab)


def test_time_distributed_dense_passes_the_shared_checker():
    check_layer(TimeDistributed, {"layer": Dense(3, activation="relu")}, (2, 5, 4), (2, 5, 3))


def test_dense_matches_torch_linear_with_copied_weights():
    layer = Dense(3, activation="relu")
    x = torch.randn(4, 5)
    layer(x)
    ref = torch.nn.Linear(5, 3)
    with torch.no_grad():
        ref.weight.copy_(layer.kernel.t())  # Keras (F, H) -> torch (H, F)
        ref.bias.copy_(layer.bias)
    torch.testing.assert_close(layer(x), torch.relu(ref(x)))


def test_dense_on_2d_gives_torch_linear_values_and_gradients_bit_for_bit():
    """A 2-D input (what TimeDistributed folds to) runs addmm on the Keras-layout kernel directly:
    the same numbers as F.linear on the transposed kernel, forward and backward."""
    layer = Dense(7)
    x = torch.randn(33, 5)
    layer(x)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    k, b = layer.kernel.detach().clone().requires_grad_(True), layer.bias.detach().clone().requires_grad_(True)
    got = layer(x1)
    want = F.linear(x2, k.t(), b)
    assert torch.equal(got, want)
    g = torch.randn(33, 7)
    got.backward(g)
    want.backward(g)
    assert torch.equal(x1.grad, x2.grad)
    assert torch.equal(layer.kernel.grad, k.grad) and torch.equal(layer.bias.grad, b.grad)


def test_dense_on_3d_equals_per_step_application_and_time_distributed():
    B, T, F_ = 3, 6, 4
    x = torch.randn(B, T, F_)
    dense = Dense(2)
    y = dense(x)
    per_step = torch.stack([dense(x[:, t]) for t in range(T)], dim=1)
    torch.testing.assert_close(y, per_step)
    td = TimeDistributed(Dense(2))
    td(x)
    td.set_weights(dense.get_weights())
    torch.testing.assert_close(td(x), y)


def test_time_distributed_over_sequential_equals_step_by_step():
    inner = Sequential([Dense(4, activation="tanh"), Dense(2)])
    td = TimeDistributed(inner)
    x = torch.randn(2, 5, 3)
    y = td(x)
    ref = torch.stack([inner(x[:, t]) for t in range(5)], dim=1)
    torch.testing.assert_close(y, ref)


def test_nested_time_distributed_equals_step_by_step():
    inner = Dense(3)
    td = TimeDistributed(TimeDistributed(inner))
    x = torch.randn(2, 4, 5, 6)  # (B, turns, words, F)
    y = td(x)
    assert y.shape == (2, 4, 5, 3)
    ref = torch.stack([torch.stack([inner(x[:, i, j]) for j in range(5)], 1) for i in range(4)], 1)
    torch.testing.assert_close(y, ref)


def test_time_distributed_wraps_plain_torch_modules():
    lin = torch.nn.Linear(4, 2)
    td = TimeDistributed(lin)
    x = torch.randn(3, 5, 4)
    torch.testing.assert_close(td(x), lin(x))
    assert td.compute_output_shape((None, 5, 4)) == (None, 5, 2)


def test_time_distributed_passes_inner_masks_and_returns_the_outer_mask():
    ids = torch.tensor([[[1, 2, 0], [0, 0, 0]], [[3, 0, 0], [4, 5, 6]]])  # (B=2, turns=2, words=3)
    td = TimeDistributed(Embedding(10, 4, mask_zero=True))
    e = td(ids)
    assert e.shape == (2, 2, 3, 4)
    torch.testing.assert_close(get_mask(e), ids != 0)
    pooled = TimeDistributed(Lambda(lambda t: t.sum(1)))(e)  # a layer that drops the inner mask
    assert pooled.shape == (2, 2, 4)
    torch.testing.assert_close(get_mask(pooled), (ids != 0).any(-1))


def test_embedding_mask_zero_flows_through_dense_and_masking_marks_padding():
    emb = Embedding(10, 3, mask_zero=True)
    x = torch.tensor([[1, 2, 0, 0], [3, 0, 0, 0]])
    h = Dense(2)(emb(x))
    torch.testing.assert_close(get_mask(h), x != 0)
    seq = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
    m = Masking(0.0)
    out = m(seq)
    torch.testing.assert_close(get_mask(out), torch.tensor([[True, False, True]]))


def test_embedding_matches_torch_embedding_lookup():
    emb = Embedding(10, 4)
    x = torch.randint(0, 10, (3, 5))
    torch.testing.assert_close(emb(x), F.embedding(x, emb.embeddings))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_name_runs_and_keeps_shape(name):
    x = torch.randn(2, 3, 4)
    assert Activation(name)(x).shape == x.shape


def test_activation_definitions_match_torch():
    x = torch.randn(10)
    torch.testing.assert_close(Activation("hard_sigmoid")(x), torch.clamp(x / 6 + 0.5, 0, 1))
    torch.testing.assert_close(Activation("softsign")(x), F.softsign(x))
    torch.testing.assert_close(Activation("swish")(x), F.silu(x))


def test_dropout_is_identity_in_eval_and_scales_in_train():
    d = Dropout(0.5)
    x = torch.ones(1000)
    d.eval()
    torch.testing.assert_close(d(x), x)
    d.train()
    y = d(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    shared = Dropout(0.5, noise_shape=(None, 1, 4))
    shared.train()
    z = shared(torch.ones(3, 6, 4))
    assert (z == z[:, :1, :]).all()  # one mask shared by every time step


def test_lambda_keeps_last_n_steps_and_infers_output_shape():
    last3 = Lambda(lambda x: x[:, -3:, :])
    assert last3.compute_output_shape((None, 6, 1)) == (None, 3, 1)
    x = torch.randn(2, 6, 1)
    torch.testing.assert_close(last3(x), x[:, -3:, :])


def test_concatenate_and_add_combine_masks():
    a = Embedding(5, 2, mask_zero=True)(torch.tensor([[1, 0, 2]]))
    b = Embedding(5, 3, mask_zero=True)(torch.tensor([[1, 1, 0]]))
    c = Concatenate()([a, b])
    assert c.shape == (1, 3, 5)
    # Keras's rule along the feature axis: a step is valid when it is valid in any input (issue 15)
    torch.testing.assert_close(get_mask(c), torch.tensor([[True, True, True]]))
    s = Add()([a, a])
    torch.testing.assert_close(s, 2 * a)


def test_repeat_vector_repeats_the_same_vector_at_each_step():
    x = torch.randn(2, 3)
    y = RepeatVector(4)(x)
    for t in range(4):
        torch.testing.assert_close(y[:, t], x)


def test_initializers_by_name_fill_kernels():
    for name in ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "orthogonal", "zeros", "ones",
                 "random_normal", "random_uniform", "constant"]:
        d = Dense(4, kernel_initializer=name)
        d(torch.zeros(1, 4))
        assert torch.isfinite(d.kernel).all()
    d = Dense(4, kernel_initializer="ones")
    d(torch.zeros(1, 3))
    assert (d.kernel == 1).all()
    d = Dense(4, kernel_initializer="orthogonal")
    d(torch.zeros(1, 4))
    torch.testing.assert_close(d.kernel.t() @ d.kernel, torch.eye(4), atol=1e-5, rtol=0)


def test_layers_build_lazily_or_eagerly():
    lazy = Dense(3)
    assert not lazy.built and len(list(lazy.parameters())) == 0
    lazy(torch.zeros(1, 7))
    assert lazy.kernel.shape == (7, 3)
    eager = Dense(3, input_shape=(7,))
    assert eager.built and eager.kernel.shape == (7, 3)
    model = Sequential([Dense(4, input_shape=(5, 2)), TimeDistributed(Dense(1))])
    assert sum(p.numel() for p in model.parameters()) == (2 * 4 + 4) + (4 + 1)


def test_dense_with_activation_set_to_none_after_construction_is_linear():
    layer = Dense(2, activation="relu", use_bias=False)
    layer.build((1, 2))
    layer.set_weights([torch.tensor([[1.0, -2.0], [3.0, -4.0]]).numpy()])
    layer.activation = None  # Keras programs switch the activation off this way
    torch.testing.assert_close(layer(torch.tensor([[-1.0, 2.0]])), torch.tensor([[5.0, -6.0]]))


@pytest.mark.parametrize("noise_shape,error,match", [
    ("(None, 1)", TypeError, r"Dropout: noise_shape must be a tuple or list of integers.*got str"),
    ((2, 1.5, 4), TypeError, r"Dropout: every entry of noise_shape must be an integer or None, got 1\.5"),
    ((2, -1, 4), ValueError, r"Dropout: every entry of noise_shape must be a positive integer or None, got -1"),
    ((2, 0, 4), ValueError, r"must be a positive integer or None, got 0 in \(2, 0, 4\)\. Use 1 to share"),
])
def test_dropout_refuses_a_bad_noise_shape(noise_shape, error, match):
    with pytest.raises(error, match=match):
        Dropout(0.5, noise_shape=noise_shape)


def test_dropout_noise_shape_is_a_tuple_with_nones_kept():
    assert Dropout(0.5, noise_shape=[3, 1, None]).noise_shape == (3, 1, None)
