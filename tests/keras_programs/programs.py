"""A corpus of Keras programs, each written once against a module ``K`` (``keras`` or ``seqlayers``).

Every program is what a Keras user writes for a sequence model (the patterns of keras-io examples,
tutorials and the questions in shared/seeds), on small random data of the real shapes. Nothing in
a program depends on which module ``K`` is. Each takes:

* ``K``: the module;
* ``out``: a dict the program fills as it goes (so what ran before a failure is still compared);
* ``init``: None, or the initial weights to start from (``model.set_weights(init)``): the test runs
  the program with seqlayers first, then with Keras from seqlayers's initial weights;
* ``tmp``: a folder for files.

and records ``out["init"]`` (the initial weights), ``out["before"]`` (predictions before training),
``out["history"]``, ``out["after"]`` (predictions after training) and whatever else it checks.
"""
from __future__ import annotations

import os

import numpy as np


def _start(K, model, out, init):
    if init is not None:
        model.set_weights(init)
    out["init"] = [np.array(w) for w in model.get_weights()]


def _train(K, model, out, init, x, y, optimizer, loss, **fit):
    """``_start``, ``compile(optimizer, loss)``, then ``before``/``history``/``after`` of
    ``fit(x, y, shuffle=False, verbose=0, **fit)``, predicting on ``x``."""
    _start(K, model, out, init)
    model.compile(optimizer=optimizer, loss=loss)
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, shuffle=False, verbose=0, **fit).history
    out["after"] = model.predict(x, verbose=0)


# ---------------------------------------------------------------- the five topologies (seed 001)
def one_to_one(K, out, init=None, tmp=None):
    """Dense layers on vectors; validation_split."""
    rs = np.random.RandomState(0)
    x, y = rs.rand(64, 3).astype("float32"), rs.rand(64, 1).astype("float32")
    model = K.Sequential([K.Input(shape=(3,)), K.layers.Dense(8, activation="relu"), K.layers.Dense(1)])
    _start(K, model, out, init)
    model.compile(optimizer="sgd", loss="mean_squared_error", metrics=["mae"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, shuffle=False,
                               verbose=0).history
    out["after"] = model.predict(x, verbose=0)


def one_to_many(K, out, init=None, tmp=None):
    """RepeatVector feeds a vector to every step of an LSTM (seed 001's one-to-many)."""
    rs = np.random.RandomState(1)
    x, y = rs.rand(32, 3).astype("float32"), rs.rand(32, 4, 1).astype("float32")
    model = K.Sequential([
        K.Input(shape=(3,)),
        K.layers.RepeatVector(4),
        K.layers.LSTM(8, return_sequences=True),
        K.layers.TimeDistributed(K.layers.Dense(1)),
    ])
    _train(K, model, out, init, x, y, "adam", "mse", epochs=3, batch_size=8)


def many_to_one_early_stopping(K, out, init=None, tmp=None):
    """LSTM -> Dense, validation_data, EarlyStopping(restore_best_weights) given as one object."""
    rs = np.random.RandomState(2)
    x, y = rs.rand(48, 6, 2).astype("float32"), rs.rand(48, 1).astype("float32")
    xv, yv = rs.rand(16, 6, 2).astype("float32"), rs.rand(16, 1).astype("float32")
    model = K.Sequential([K.Input(shape=(6, 2)), K.layers.LSTM(8), K.layers.Dense(1)])
    _start(K, model, out, init)
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.05), loss="mse")
    out["before"] = model.predict(x, verbose=0)
    stop = K.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    out["history"] = model.fit(x, y, epochs=8, batch_size=16, validation_data=(xv, yv), shuffle=False,
                               callbacks=[stop], verbose=0).history
    out["after"] = model.predict(xv, verbose=0)
    out["epochs_run"] = len(out["history"]["loss"])


def many_to_many_tagging(K, out, init=None, tmp=None):
    """GRU(return_sequences) -> TimeDistributed(Dense(softmax)) with per-step sample weights."""
    rs = np.random.RandomState(3)
    x = rs.rand(32, 5, 4).astype("float32")
    y = rs.randint(0, 3, (32, 5))
    sw = rs.rand(32, 5).astype("float32")
    model = K.Sequential([
        K.Input(shape=(5, 4)),
        K.layers.GRU(8, return_sequences=True),
        K.layers.TimeDistributed(K.layers.Dense(3, activation="softmax")),
    ])
    _start(K, model, out, init)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, sample_weight=sw, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    out["after"] = model.predict(x, verbose=0)
    out["evaluate"] = model.evaluate(x, y, verbose=0)


def encoder_decoder_repeat_vector(K, out, init=None, tmp=None):
    """Seed 001's answer B: LSTM encoder, RepeatVector, LSTM decoder, TimeDistributed(Dense(1))."""
    rs = np.random.RandomState(4)
    x, y = rs.rand(32, 6, 2).astype("float32"), rs.rand(32, 3, 1).astype("float32")
    model = K.Sequential()
    model.add(K.Input(shape=(6, 2)))
    model.add(K.layers.LSTM(8))
    model.add(K.layers.RepeatVector(3))
    model.add(K.layers.LSTM(8, return_sequences=True))
    model.add(K.layers.TimeDistributed(K.layers.Dense(1)))
    model.add(K.layers.Activation("linear"))
    _train(K, model, out, init, x, y, "adam", "mse", epochs=3, batch_size=8)


def last_n_steps_lambda(K, out, init=None, tmp=None):
    """Seed 001's answer 5: many-to-many keeping the last N steps with a slicing layer."""
    rs = np.random.RandomState(5)
    x, y = rs.rand(16, 6, 2).astype("float32"), rs.rand(16, 3, 1).astype("float32")
    model = K.Sequential([
        K.Input(shape=(6, 2)),
        K.layers.LSTM(1, return_sequences=True),
        K.layers.Lambda(lambda t: t[:, -3:, :]),
    ])
    _train(K, model, out, init, x, y, "sgd", "mse", epochs=2, batch_size=8)


# ---------------------------------------------------------------- seq2seq (keras-io lstm_seq2seq)
def seq2seq_inference(K, out, init=None, tmp=None):
    """Teacher-forced training, then encoder/decoder inference models rebuilt from the trained layers."""
    latent, n_in, n_out = 8, 5, 4
    rs = np.random.RandomState(6)
    enc_x = np.eye(n_in, dtype="float32")[rs.randint(0, n_in, (24, 6))]
    dec_x = np.eye(n_out, dtype="float32")[rs.randint(0, n_out, (24, 4))]
    dec_y = np.roll(dec_x, -1, axis=1)
    encoder_inputs = K.Input(shape=(None, n_in))
    encoder = K.layers.LSTM(latent, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = K.Input(shape=(None, n_out))
    decoder_lstm = K.layers.LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = K.layers.Dense(n_out, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = K.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    _start(K, model, out, init)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    out["before"] = model.predict([enc_x, dec_x], verbose=0)
    out["history"] = model.fit([enc_x, dec_x], dec_y, batch_size=8, epochs=3, validation_split=0.25,
                               shuffle=False, verbose=0).history
    # inference, as written in the example
    encoder_inputs = model.input[0]
    encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output
    encoder_model = K.Model(encoder_inputs, [state_h_enc, state_c_enc])
    decoder_inputs = model.input[1]
    decoder_state_input_h = K.Input(shape=(latent,))
    decoder_state_input_c = K.Input(shape=(latent,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_lstm = model.layers[3]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_dense = model.layers[4]
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = K.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs, state_h_dec, state_c_dec])
    states = encoder_model.predict(enc_x[:4], verbose=0)
    target = np.zeros((4, 1, n_out), dtype="float32")
    target[:, 0, 0] = 1.0
    decoded = []
    for _ in range(4):
        tokens, h, c = decoder_model.predict([target] + states, verbose=0)
        ids = tokens[:, -1].argmax(-1)
        decoded.append(ids)
        target = np.eye(n_out, dtype="float32")[ids][:, None]
        states = [h, c]
    out["after"] = model.predict([enc_x, dec_x], verbose=0)
    out["decoded"] = np.stack(decoded, 1)


def char_addition(K, out, init=None, tmp=None):
    """keras-io addition_rnn: LSTM encoder, RepeatVector, LSTM decoder, Dense(softmax) on every step."""
    chars, maxlen, digits = 12, 7, 4
    rs = np.random.RandomState(7)
    x = np.eye(chars, dtype=bool)[rs.randint(0, chars, (40, maxlen))]
    y = np.eye(chars, dtype=bool)[rs.randint(0, chars, (40, digits))]
    model = K.Sequential()
    model.add(K.Input((maxlen, chars)))
    model.add(K.layers.LSTM(16))
    model.add(K.layers.RepeatVector(digits))
    model.add(K.layers.LSTM(16, return_sequences=True))
    model.add(K.layers.Dense(chars, activation="softmax"))
    _start(K, model, out, init)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:8], y[:8]), shuffle=False,
                               verbose=0).history
    out["after"] = model.predict(x, verbose=0)


# ---------------------------------------------------------------- state, masks, directions
def stateful_stacked_lstm(K, out, init=None, tmp=None):
    """The stateful stacked LSTM tutorial: batch_shape, shuffle=False, reset_states between epochs."""
    rs = np.random.RandomState(8)
    x, y = rs.rand(16, 5, 1).astype("float32"), rs.rand(16, 1).astype("float32")
    model = K.Sequential([
        K.Input(batch_shape=(4, 5, 1)),
        K.layers.LSTM(6, return_sequences=True, stateful=True),
        K.layers.LSTM(6, stateful=True),
        K.layers.Dense(1),
    ])
    _start(K, model, out, init)
    model.compile(loss="mse", optimizer="adam")
    out["before"] = model.predict(x, batch_size=4, verbose=0)  # states carried from batch to batch
    out["before_again"] = model.predict(x, batch_size=4, verbose=0)  # ... and on, without a reset
    model.reset_states() if hasattr(model, "reset_states") else [lyr.reset_states() for lyr in model.layers[:2]]
    out["after_reset"] = model.predict(x, batch_size=4, verbose=0)
    losses = []
    for _ in range(2):
        h = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        losses.append(h.history["loss"][0])
        for layer in model.layers[:2]:
            layer.reset_states()
    out["history"] = {"loss": losses}
    out["after"] = model.predict(x, batch_size=4, verbose=0)


def masked_embedding_classifier(K, out, init=None, tmp=None):
    """IMDB-style: pad_sequences, Embedding(mask_zero=True), LSTM, sigmoid; class_weight."""
    rs = np.random.RandomState(9)
    seqs = [list(rs.randint(1, 20, rs.randint(2, 9))) for _ in range(40)]
    x = K.utils.pad_sequences(seqs, maxlen=8)
    y = rs.randint(0, 2, (40, 1))
    model = K.Sequential([
        K.Input(shape=(None,), dtype="int32"),
        K.layers.Embedding(20, 8, mask_zero=True),
        K.layers.LSTM(8),
        K.layers.Dense(1, activation="sigmoid"),
    ])
    _start(K, model, out, init)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=3, class_weight={0: 1.0, 1: 3.0}, shuffle=False,
                               verbose=0).history
    out["after"] = model.predict(x, verbose=0)
    out["x"] = x


def bidirectional_ner(K, out, init=None, tmp=None):
    """BiLSTM tagger: Embedding(mask_zero) -> Bidirectional(LSTM(return_sequences)) -> TimeDistributed softmax."""
    rs = np.random.RandomState(10)
    seqs = [list(rs.randint(1, 30, rs.randint(3, 8))) for _ in range(32)]
    x = K.preprocessing.sequence.pad_sequences(seqs, maxlen=7, padding="post")
    tags = K.utils.to_categorical(rs.randint(0, 4, (32, 7)), num_classes=4)
    inp = K.Input(shape=(7,))
    h = K.layers.Embedding(30, 8, mask_zero=True)(inp)
    h = K.layers.Bidirectional(K.layers.LSTM(8, return_sequences=True))(h)
    tag_out = K.layers.TimeDistributed(K.layers.Dense(4, activation="softmax"))(h)
    model = K.Model(inp, tag_out)
    _start(K, model, out, init)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, tags, batch_size=8, epochs=3, validation_split=0.25, shuffle=False,
                               verbose=0).history
    out["after"] = model.predict(x, verbose=0)
    out["x"] = x


def masked_gru_regression(K, out, init=None, tmp=None):
    """Masking(0.0) over zero-padded float sequences, GRU, Dense; metric objects by Keras's names."""
    rs = np.random.RandomState(11)
    x = rs.rand(32, 6, 3).astype("float32")
    for i, n in enumerate(rs.randint(2, 7, 32)):
        x[i, n:] = 0.0
    y = rs.rand(32, 1).astype("float32")
    model = K.Sequential([
        K.Input(shape=(6, 3)),
        K.layers.Masking(mask_value=0.0),
        K.layers.GRU(8),
        K.layers.Dense(1),
    ])
    _start(K, model, out, init)
    model.compile(optimizer="adam", loss="mse",
                  metrics=[K.metrics.MeanAbsoluteError(), K.metrics.RootMeanSquaredError()])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    out["after"] = model.predict(x, verbose=0)


def multi_input_multi_output(K, out, init=None, tmp=None):
    """Two inputs, two named outputs, loss_weights and metrics by output name, dict targets."""
    rs = np.random.RandomState(12)
    words = rs.randint(1, 25, (32, 6))
    feats = rs.rand(32, 6, 2).astype("float32")
    y_tags = rs.randint(0, 3, (32, 6))
    y_intent = rs.randint(0, 2, (32, 1))
    w_in = K.Input(shape=(6,), dtype="int32", name="words")
    f_in = K.Input(shape=(6, 2), name="feats")
    e = K.layers.Embedding(25, 6)(w_in)
    h = K.layers.Concatenate()([e, f_in])
    seq = K.layers.LSTM(8, return_sequences=True)(h)
    tags = K.layers.TimeDistributed(K.layers.Dense(3, activation="softmax"), name="tags")(seq)
    intent = K.layers.Dense(1, activation="sigmoid", name="intent")(K.layers.LSTM(4)(seq))
    model = K.Model(inputs=[w_in, f_in], outputs=[tags, intent])
    _start(K, model, out, init)
    model.compile(optimizer="adam",
                  loss={"tags": "sparse_categorical_crossentropy", "intent": "binary_crossentropy"},
                  loss_weights={"tags": 1.0, "intent": 0.5},
                  metrics={"tags": ["accuracy"], "intent": ["accuracy"]})
    out["before"] = model.predict([words, feats], verbose=0)
    out["history"] = model.fit({"words": words, "feats": feats}, {"tags": y_tags, "intent": y_intent},
                               batch_size=8, epochs=3, shuffle=False, verbose=0).history
    out["after"] = model.predict([words, feats], verbose=0)
    out["evaluate"] = model.evaluate([words, feats], [y_tags, y_intent], verbose=0, return_dict=True)


def callbacks_and_files(K, out, init=None, tmp=None):
    """ModelCheckpoint(save_best_only) to .keras, CSVLogger, ReduceLROnPlateau, LearningRateScheduler,
    LambdaCallback; the best model loaded back and evaluated."""
    rs = np.random.RandomState(13)
    x, y = rs.rand(40, 5, 2).astype("float32"), rs.rand(40, 1).astype("float32")
    model = K.Sequential([K.Input(shape=(5, 2)), K.layers.SimpleRNN(6), K.layers.Dense(1)])
    _start(K, model, out, init)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    out["before"] = model.predict(x, verbose=0)
    seen = []
    best = os.path.join(tmp, "best.keras")
    log = os.path.join(tmp, "log.csv")
    callbacks = [
        K.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True),
        K.callbacks.CSVLogger(log),
        K.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1),
        K.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.9),
        K.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(round(logs["loss"], 6))),
    ]
    out["history"] = model.fit(x, y, batch_size=8, epochs=4, validation_split=0.2, shuffle=False,
                               callbacks=callbacks, verbose=0).history
    out["after"] = model.predict(x, verbose=0)
    out["seen"] = seen
    out["csv_lines"] = len(open(log).read().strip().splitlines())
    restored = K.models.load_model(best)
    out["restored_evaluate"] = restored.evaluate(x[32:], y[32:], verbose=0)
    out["best_val_loss"] = min(out["history"]["val_loss"])


def generators_and_sequences(K, out, init=None, tmp=None):
    """fit on an endless generator with steps_per_epoch, and on a PyDataset (Keras 3's Sequence)."""
    rs = np.random.RandomState(14)
    x, y = rs.rand(24, 4, 3).astype("float32"), rs.rand(24, 1).astype("float32")

    def batches():
        while True:
            for i in range(0, 24, 8):
                yield x[i:i + 8], y[i:i + 8]

    class Windows(K.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    model = K.Sequential([K.Input(shape=(4, 3)), K.layers.LSTM(6), K.layers.Dense(1)])
    _start(K, model, out, init)
    model.compile(optimizer="sgd", loss="mse")
    out["before"] = model.predict(x, verbose=0)
    h1 = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0).history
    h2 = model.fit(Windows(), epochs=2, verbose=0).history
    out["history"] = {"loss": h1["loss"] + h2["loss"]}
    out["after"] = model.predict(x, verbose=0)
    out["evaluate"] = model.evaluate(Windows(), verbose=0)


def save_load_reload_evaluate(K, out, init=None, tmp=None):
    """model.save(.keras) -> load_model -> evaluate (compile restored) -> fit on; save_weights(.weights.h5)."""
    rs = np.random.RandomState(15)
    x, y = rs.rand(32, 5, 2).astype("float32"), rs.randint(0, 3, (32,))
    model = K.Sequential([
        K.Input(shape=(5, 2)),
        K.layers.Bidirectional(K.layers.GRU(6)),
        K.layers.Dense(3, activation="softmax"),
    ])
    _start(K, model, out, init)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    out["evaluate"] = model.evaluate(x, y, verbose=0)
    path = os.path.join(tmp, "model.keras")
    model.save(path)
    loaded = K.models.load_model(path)
    out["loaded_evaluate"] = loaded.evaluate(x, y, verbose=0)
    out["loaded_predict"] = loaded.predict(x, verbose=0)
    weights = os.path.join(tmp, "model.weights.h5")
    model.save_weights(weights)
    fresh = K.Sequential([
        K.Input(shape=(5, 2)),
        K.layers.Bidirectional(K.layers.GRU(6)),
        K.layers.Dense(3, activation="softmax"),
    ])
    fresh.load_weights(weights)
    out["reloaded_predict"] = fresh.predict(x, verbose=0)
    out["after"] = model.predict(x, verbose=0)
    out["weights_file"] = weights


def text_generation(K, out, init=None, tmp=None):
    """Character-level next-token model: Embedding -> LSTM -> Dense(softmax); greedy generation."""
    vocab, T = 15, 6
    rs = np.random.RandomState(16)
    text = rs.randint(0, vocab, 200)
    x = np.stack([text[i:i + T] for i in range(0, 150, 3)])
    y = text[T:T + 150:3][:len(x)]
    model = K.Sequential([
        K.Input(shape=(T,)),
        K.layers.Embedding(vocab, 8),
        K.layers.LSTM(16),
        K.layers.Dense(vocab, activation="softmax"),
    ])
    _start(K, model, out, init)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0).history
    seed = list(x[0])
    for _ in range(5):
        probs = model.predict(np.array([seed[-T:]]), verbose=0)[0]
        seed.append(int(np.argmax(probs)))
    out["generated"] = np.array(seed[T:])
    out["after"] = model.predict(x, verbose=0)


def weather_forecast(K, out, init=None, tmp=None):
    """keras-io timeseries weather forecasting: windows of features -> LSTM(32) -> Dense(1)."""
    rs = np.random.RandomState(17)
    series = np.cumsum(rs.normal(size=(120, 3)), axis=0).astype("float32")
    series = (series - series.mean(0)) / series.std(0)
    T = 10
    x = np.stack([series[i:i + T] for i in range(100)])
    y = series[T:T + 100, :1]
    inputs = K.Input(shape=(T, 3))
    lstm_out = K.layers.LSTM(32)(inputs)
    outputs = K.layers.Dense(1)(lstm_out)
    model = K.Model(inputs=inputs, outputs=outputs)
    _start(K, model, out, init)
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.001), loss="mse")
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x[:80], y[:80], epochs=3, batch_size=16, validation_data=(x[80:], y[80:]),
                               shuffle=False, verbose=0).history
    out["after"] = model.predict(x, verbose=0)


def seed_dialogue_actions(K, out, init=None, tmp=None):
    """Seed 000's many-to-many (2): bit-vector inputs per turn, LSTM(return_sequences), TimeDistributed
    sigmoid bits (a system action per turn); bool arrays as the user has them."""
    rs = np.random.RandomState(18)
    x = rs.rand(24, 3, 10) > 0.5          # bool word bits per turn
    y = rs.rand(24, 3, 6) > 0.7           # bool action bits per turn
    model = K.Sequential([
        K.Input(shape=(3, 10)),
        K.layers.LSTM(8, return_sequences=True),
        K.layers.TimeDistributed(K.layers.Dense(6, activation="sigmoid")),
    ])
    _start(K, model, out, init)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[K.metrics.BinaryAccuracy(), K.metrics.Precision(), K.metrics.Recall()])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    out["after"] = model.predict(x, verbose=0)


PROGRAMS = [
    one_to_one, one_to_many, many_to_one_early_stopping, many_to_many_tagging, encoder_decoder_repeat_vector,
    last_n_steps_lambda, seq2seq_inference, char_addition, stateful_stacked_lstm, masked_embedding_classifier,
    bidirectional_ner, masked_gru_regression, multi_input_multi_output, callbacks_and_files,
    generators_and_sequences, save_load_reload_evaluate, text_generation, weather_forecast, seed_dialogue_actions,
]
