"""The compile/fit/predict calls of the users' questions (shared/seeds) run unchanged apart from imports."""
import numpy as np
import pytest

seqlayers = pytest.importorskip("seqlayers")
LSTM = pytest.importorskip("seqlayers").__dict__.get("LSTM")
pytestmark = pytest.mark.skipif(LSTM is None, reason="recurrent layers not available yet")

from seqlayers import Activation, Dense, Lambda, RepeatVector, Sequential, TimeDistributed  # noqa: E402


def test_echo_sequence_many_to_many_timedistributed():
    """Seed 003 (machinelearningmastery's echo): LSTM(return_sequences) + TimeDistributed(Dense(1))."""
    length = 5
    seq = np.array([i / float(length) for i in range(length)])
    X = seq.reshape(1, length, 1)
    y = seq.reshape(1, length, 1)
    n_neurons, n_batch, n_epoch = 5, 1, 8
    model = Sequential()
    model.add(LSTM(n_neurons, input_shape=(length, 1), return_sequences=True))
    model.add(TimeDistributed(Dense(1)))
    model.compile(loss='mean_squared_error', optimizer='adam')
    history = model.fit(X, y, epochs=n_epoch, batch_size=n_batch, verbose=0)
    result = model.predict(X, batch_size=n_batch, verbose=0)
    assert result.shape == (1, 5, 1)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_many_to_one_and_one_to_many_and_encoder_decoder():
    """Seed 001: the minimal snippet for each RNN mode, compiled and fitted."""
    timesteps, data_dim, N = 6, 3, 2
    x = np.random.default_rng(0).normal(size=(16, timesteps, data_dim)).astype("float32")
    model = Sequential()
    model.add(LSTM(128, input_shape=(timesteps, data_dim)))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="rmsprop")
    model.fit(x, x[:, -1, :1], epochs=1, batch_size=8, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, 1)

    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim), return_sequences=True))
    model.add(Lambda(lambda x: x[:, -N:, :]))
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, x[:, -N:, :1], epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, N, 1)

    N_BLOCKS, N_OUTPUTS = 4, 3
    model = Sequential()
    model.add(LSTM(N_BLOCKS, input_shape=(timesteps, data_dim)))
    model.add(RepeatVector(N_OUTPUTS))
    model.add(LSTM(N_BLOCKS, return_sequences=True))
    model.add(TimeDistributed(Dense(1)))
    model.add(Activation('linear'))
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, x[:, :N_OUTPUTS, :1], epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, N_OUTPUTS, 1)


def test_dialogue_system_action_bit_vectors_per_turn():
    """Seed 000: one user-utterance vector per turn in, one system-action bit vector per turn out."""
    r = np.random.default_rng(0)
    n_dialogues, n_turns, emb_size, n_actions = 32, 3, 8, 6
    x = r.random((n_dialogues, n_turns, emb_size)).astype("float32")
    y = (x[..., :n_actions] > 0.5).astype("float32")
    model = Sequential()
    model.add(LSTM(16, input_shape=(n_turns, emb_size), return_sequences=True))
    model.add(TimeDistributed(Dense(n_actions, activation="sigmoid")))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["f1_micro", "f1_macro", "precision", "recall"])
    h = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25)
    assert {"f1_micro", "f1_macro", "precision", "recall", "val_f1_micro"} <= set(h.history)
    assert all(0.0 <= v <= 1.0 for v in h.history["f1_macro"])
    assert model.predict(x, verbose=0).shape == (n_dialogues, n_turns, n_actions)
