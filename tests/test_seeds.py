"""The users' questions (seeds 000-004) as tests: every Keras snippet that builds a model runs here
with only its imports changed, and the shape claims the answers make hold.

Each snippet is written once as a function of the names it uses, then run twice: with seqlayers'
layers and with Keras's (the independent reference), and the output shapes and parameter counts
must agree. Seed texts are quoted in the docstrings; the seeds folder itself is not read.
"""
import numpy as np
import pytest
import torch

import seqlayers
from seqlayers import topologies as T
from seqlayers.models.topology import ENCODER_DECODER, MANY_TO_MANY, MANY_TO_ONE, ONE_TO_MANY, ONE_TO_ONE

NAMES = ("Sequential", "Dense", "LSTM", "SimpleRNN", "RepeatVector", "TimeDistributed", "Lambda", "Activation")
OURS = {n: getattr(seqlayers, n) for n in NAMES}


def keras_names():
    keras = pytest.importorskip("keras")
    return {"Sequential": keras.Sequential, **{n: getattr(keras.layers, n) for n in NAMES[1:]}}


def output_shape(model):
    if hasattr(model, "layer_shapes"):
        return tuple(model.layer_shapes[-1])
    return tuple(model.output_shape)


# ------------------------------------------------------------------ seed 001: the five shapes in Keras
timesteps, data_dim, output_size, number_of_times, N = 8, 3, 2, 4, 3
input_shape = (data_dim,)
N_BLOCKS, N_INPUTS, N_FEATURES, N_OUTPUTS = 6, 7, 2, 3


def seed001_question(Sequential, LSTM, Dense, **_):
    model = Sequential()
    model.add(LSTM(128, input_shape=(timesteps, data_dim)))
    model.add(Dense(1))
    return model


def seed001_one_to_one(Sequential, Dense, **_):
    model = Sequential()
    model.add(Dense(output_size, input_shape=input_shape))
    return model


def seed001_one_to_many(Sequential, RepeatVector, LSTM, **_):
    model = Sequential()
    model.add(RepeatVector(number_of_times, input_shape=input_shape))
    model.add(LSTM(output_size, return_sequences=True))
    return model


def seed001_many_to_one(Sequential, LSTM, **_):
    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim)))
    return model


def seed001_many_to_many(Sequential, LSTM, **_):
    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim), return_sequences=True))
    return model


def seed001_last_n(Sequential, LSTM, Lambda, **_):
    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim), return_sequences=True))
    model.add(Lambda(lambda x: x[:, -N:, :]))  # the seed's line lacks its two closing parentheses
    return model


def seed001_comment_512(Sequential, LSTM, Dense, **_):
    model = Sequential()
    model.add(LSTM(512, input_shape=(timesteps, data_dim)))
    model.add(Dense(1))
    return model


def seed001_a_vanilla(Sequential, LSTM, Dense, **_):
    model = Sequential()
    model.add(LSTM(N_BLOCKS, input_shape=(N_INPUTS, N_FEATURES)))
    model.add(Dense(N_OUTPUTS))
    return model


def seed001_b_encoder_decoder(Sequential, LSTM, RepeatVector, TimeDistributed, Dense, Activation, **_):
    model = Sequential()  # the seed's snippet starts at model.add
    model.add(LSTM(N_BLOCKS, input_shape=(N_INPUTS, N_FEATURES)))
    model.add(RepeatVector(N_OUTPUTS))
    model.add(LSTM(N_BLOCKS, return_sequences=True))
    model.add(TimeDistributed(Dense(1)))
    model.add(Activation('linear'))
    return model


SEED001 = [
    (seed001_question, (None, 1), MANY_TO_ONE),
    (seed001_one_to_one, (None, output_size), ONE_TO_ONE),
    (seed001_one_to_many, (None, number_of_times, output_size), ONE_TO_MANY),
    (seed001_many_to_one, (None, 1), MANY_TO_ONE),
    (seed001_many_to_many, (None, timesteps, 1), MANY_TO_MANY),
    (seed001_last_n, (None, N, 1), ENCODER_DECODER),
    (seed001_comment_512, (None, 1), MANY_TO_ONE),
    (seed001_a_vanilla, (None, N_OUTPUTS), MANY_TO_ONE),
    (seed001_b_encoder_decoder, (None, N_OUTPUTS, 1), ENCODER_DECODER),
]


@pytest.mark.parametrize("snippet, shape, kind", SEED001, ids=[s[0].__name__ for s in SEED001])
def test_seed_001_snippets_build_the_shapes_and_topologies_the_answer_claims(snippet, shape, kind):
    ours = snippet(**OURS)
    assert output_shape(ours) == shape
    assert ours.topology().kind == kind
    ref = snippet(**keras_names())
    assert output_shape(ref) == shape
    assert ours.count_params() == ref.count_params()
    x = torch.randn(2, *ours.declared_input_shape[1:])
    assert tuple(ours(x).shape) == (2,) + shape[1:]


def test_seed_001_last_n_keeps_the_last_n_steps_of_the_recurrent_output():
    ours = seed001_last_n(**OURS)
    x = torch.randn(2, timesteps, data_dim)
    full = ours.layers[0](x)
    assert torch.equal(ours(x), full[:, -N:, :])


# ------------------------------------------------------------------ seed 000: return_sequences, TimeDistributed
n_words, emb_size, lstm_output = 9, 6, 4


def test_seed_000_return_sequences_keeps_one_vector_per_word_and_time_distributed_dense_maps_each_to_3():
    x = torch.randn(1, n_words, emb_size)  # "a 2-D tensor (n_words, emb_size)", with a batch axis
    lstm = seqlayers.LSTM(lstm_output, return_sequences=True)
    h = lstm(x)
    assert tuple(h.shape) == (1, n_words, lstm_output)
    td = seqlayers.TimeDistributed(seqlayers.Dense(3))
    y = td(h)
    assert tuple(y.shape) == (1, n_words, 3)
    # "the same weights for every element": each word's vector goes through the same Dense
    kernel, bias = td.layer.kernel, td.layer.bias
    for t in range(n_words):
        torch.testing.assert_close(y[0, t], h[0, t] @ kernel + bias)
    # without return_sequences only the last step comes out: (num_seq, units)
    last = seqlayers.LSTM(lstm_output)(x)
    assert tuple(last.shape) == (1, lstm_output)


def test_seed_000_claim_that_dense_rejects_3d_input_is_outdated_dense_equals_time_distributed():
    h = torch.randn(2, n_words, lstm_output)
    dense = seqlayers.Dense(3)
    td = seqlayers.TimeDistributed(dense)
    torch.testing.assert_close(dense(h), td(h))


# ------------------------------------------------------------------ seed 002: N x 700 x 1 -> SimpleRNN(200)
def test_seed_002_the_typo_return_sequence_is_refused_with_the_right_name():
    with pytest.raises(TypeError,
                       match="unexpected keyword argument 'return_sequence'. Did you mean 'return_sequences'"):
        seqlayers.SimpleRNN(200, return_sequence=True)


def test_seed_002_700_columns_become_700_steps_of_200_channels_and_dense_runs_on_each_with_shared_weights():
    n = 2
    data = torch.randn(n, 700)
    x = data.reshape(n, 700, 1)  # "reshape the data into a 3-D tensor N x 700 x 1"
    model = seqlayers.Sequential([seqlayers.SimpleRNN(200, input_shape=(700, 1), return_sequences=True),
                                  seqlayers.TimeDistributed(seqlayers.Dense(5))])
    h = model.layers[0](x)
    assert tuple(h.shape) == (n, 700, 200)  # h_1 .. h_700, not h_1 .. h_200
    y = model(x)
    assert tuple(y.shape) == (n, 700, 5)
    dense = model.layers[1].layer
    assert tuple(dense.kernel.shape) == (200, 5)  # one kernel for all 700 steps
    reference = torch.stack([h[:, t] @ dense.kernel + dense.bias for t in (0, 1, 699)], dim=1)
    torch.testing.assert_close(y[:, [0, 1, 699]], reference)
    legacy = seqlayers.TimeDistributedDense(5)
    legacy(h)
    legacy.set_weights(model.layers[1].get_weights())
    torch.testing.assert_close(legacy(h), y)  # Keras 1's TimeDistributedDense is the same thing
    assert model.topology().kind == MANY_TO_MANY


# ------------------------------------------------------------------ seed 003: the tutorial's three models
length = 5


def seed003_data():
    from numpy import array
    seq = array([i / float(length) for i in range(length)])
    return seq


def seed003_one_to_one(Sequential, LSTM, Dense, **_):
    model = Sequential()
    model.add(LSTM(5, input_shape=(1, 1)))
    model.add(Dense(1))
    return model


def seed003_many_to_one(Sequential, LSTM, Dense, **_):
    model = Sequential()
    model.add(LSTM(5, input_shape=(5, 1)))
    model.add(Dense(length))
    return model


def seed003_many_to_many(Sequential, LSTM, TimeDistributed, Dense, **_):
    model = Sequential()
    model.add(LSTM(5, input_shape=(length, 1), return_sequences=True))
    model.add(TimeDistributed(Dense(1)))
    return model


SEED003 = [
    (seed003_one_to_one, (5, 1, 1), (5, 1), 146, ONE_TO_ONE),
    (seed003_many_to_one, (1, 5, 1), (1, 5), 170, MANY_TO_ONE),
    (seed003_many_to_many, (1, 5, 1), (1, 5, 1), 146, MANY_TO_MANY),
]


@pytest.mark.parametrize("snippet, x_shape, y_shape, params, kind", SEED003, ids=[s[0].__name__ for s in SEED003])
def test_seed_003_tutorial_models_have_the_tutorials_parameter_counts_and_shapes(snippet, x_shape, y_shape, params,
                                                                                 kind):
    seq = seed003_data()
    np.testing.assert_allclose(seq, [0.0, 0.2, 0.4, 0.6, 0.8])
    X = seq.reshape(x_shape).astype("float32")
    ours = snippet(**OURS)
    assert ours.count_params() == params
    assert ours.count_params() == snippet(**keras_names()).count_params()
    assert tuple(ours(torch.from_numpy(X)).shape) == y_shape
    assert ours.topology().kind == kind


def test_seed_003_many_to_many_trains_with_compile_and_fit_on_the_tutorials_arrays():
    seq = seed003_data()
    X, y = seq.reshape(1, length, 1).astype("float32"), seq.reshape(1, length, 1).astype("float32")
    model = seed003_many_to_many(**OURS)
    model.compile(loss='mean_squared_error', optimizer='adam')
    history = model.fit(X, y, epochs=30, batch_size=1, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 30 and losses[-1] < losses[0]
    assert model.predict(X, batch_size=1, verbose=0).shape == (1, length, 1)


# ------------------------------------------------------------------ seed 004: the tagging layer
def test_seed_004_time_distributed_softmax_gives_a_distribution_per_step():
    n_units = 6
    head = seqlayers.TimeDistributed(seqlayers.Dense(n_units, activation='softmax'))
    model = T.many_to_many(7, 3, n_units, units=4)
    model.pop()
    model.add(head)
    y = model(torch.randn(2, 7, 3))
    assert tuple(y.shape) == (2, 7, n_units)  # b_1 .. b_N: one label distribution per a_i
    torch.testing.assert_close(y.sum(-1), torch.ones(2, 7))
    # "if return_sequences is False ... you could only get the last bN"
    last = seqlayers.Sequential([seqlayers.LSTM(4, input_shape=(7, 3)), seqlayers.Dense(n_units, activation='softmax')])
    assert tuple(last(torch.randn(2, 7, 3)).shape) == (2, n_units)
    assert last.topology().kind == MANY_TO_ONE
