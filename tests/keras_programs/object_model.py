"""Keras programs on Keras's object model (issue 24), written once against a module ``K`` as in ``programs.py``:
frozen pretrained embeddings, a learning rate changed mid-training, a custom layer with weights and a mask
(Keras's subclassing guide, saved and loaded), a custom RNN cell inside ``RNN``, and a ``Model`` subclass."""
from __future__ import annotations

import os

import numpy as np

from .programs import _start, _train


def frozen_pretrained_embeddings(K, out, init=None, tmp=None):
    """GloVe-style: Embedding(weights=[matrix], trainable=False) under a trainable LSTM; then unfrozen for
    fine-tuning with a lower rate after compile() again (Keras's transfer-learning recipe)."""
    rs = np.random.RandomState(20)
    matrix = rs.normal(size=(30, 6)).astype("float32")
    x = rs.randint(1, 30, (32, 7))
    x[:8, :3] = 0
    y = rs.randint(0, 3, (32,))
    embedding = K.layers.Embedding(30, 6, weights=[matrix], trainable=False, mask_zero=True)
    model = K.Sequential([K.Input(shape=(7,), dtype="int32"), embedding, K.layers.LSTM(5),
                          K.layers.Dense(3, activation="softmax")])
    _start(K, model, out, init)
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    out["counts"] = [len(model.trainable_weights), len(model.non_trainable_weights), model.count_params()]
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    out["frozen_embedding_unchanged"] = float(np.abs(embedding.get_weights()[0] - matrix).max())
    embedding.trainable = True
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.005), loss="sparse_categorical_crossentropy")
    out["fine_tune_loss"] = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
    out["embedding_after_fine_tuning"] = embedding.get_weights()[0]
    out["after"] = model.predict(x, verbose=0)


def learning_rate_changed_mid_training(K, out, init=None, tmp=None):
    """model.optimizer.learning_rate read, halved by a callback at each epoch's end, set between fits."""
    rs = np.random.RandomState(21)
    x, y = rs.rand(40, 5, 2).astype("float32"), rs.rand(40, 1).astype("float32")
    model = K.Sequential([K.Input(shape=(5, 2)), K.layers.GRU(6), K.layers.Dense(1)])
    _start(K, model, out, init)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.2, momentum=0.5), loss="mse")
    out["before"] = model.predict(x, verbose=0)
    rates = [float(model.optimizer.learning_rate)]

    def halve(epoch, logs):
        model.optimizer.learning_rate = float(model.optimizer.learning_rate) * 0.5
        rates.append(float(model.optimizer.learning_rate))

    out["history"] = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0,
                               callbacks=[K.callbacks.LambdaCallback(on_epoch_end=halve)]).history
    model.optimizer.learning_rate = 0.3
    out["second_fit_loss"] = model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0).history["loss"]
    out["rates"] = rates + [float(model.optimizer.learning_rate)]
    out["iterations"] = int(model.optimizer.iterations)
    out["after"] = model.predict(x, verbose=0)


def _masked_projection_class(K):
    """The custom layer of Keras's "Making new layers and models via subclassing" guide, with a mask."""

    @K.saving.register_keras_serializable(package="corpus")
    class MaskedProjection(K.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.supports_masking = True

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                     trainable=True, regularizer=K.regularizers.L2(1e-2),
                                     constraint=K.constraints.MaxNorm(0.5), name="kernel")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="bias")
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

        def call(self, inputs, mask=None, training=None):
            y = K.ops.tanh(K.ops.matmul(inputs, self.w) + self.b)
            if mask is not None:  # zero the padded steps
                y = y * K.ops.expand_dims(K.ops.cast(mask, y.dtype), -1)
            return y

        def compute_mask(self, inputs, mask=None):
            return mask

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (self.units,)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return MaskedProjection


def custom_layer_with_weights_and_mask(K, out, init=None, tmp=None):
    """A subclassed layer (add_weight with regularizer and constraint, a non-trainable weight, mask in and
    out) between Embedding(mask_zero) and LSTM, in Sequential and functional models; saved as .keras and
    loaded back."""
    MaskedProjection = _masked_projection_class(K)
    rs = np.random.RandomState(22)
    x = rs.randint(1, 12, (24, 6))
    x[::2, 4:] = 0
    y = rs.rand(24, 1).astype("float32")
    model = K.Sequential([K.Input(shape=(6,), dtype="int32"), K.layers.Embedding(12, 5, mask_zero=True),
                          MaskedProjection(4), K.layers.LSTM(3), K.layers.Dense(1)])
    _start(K, model, out, init)
    layer = model.layers[1]
    out["lists"] = [[tuple(w.shape) for w in ws] for ws in (layer.weights, layer.trainable_weights,
                                                            layer.non_trainable_weights)]
    out["output_shape"] = list(layer.compute_output_shape((None, 6, 5)))
    model.compile(optimizer="adam", loss="mse")
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    out["kernel_norms"] = np.sqrt((layer.get_weights()[0] ** 2).sum(axis=0))  # MaxNorm(0.5) applied
    out["after"] = model.predict(x, verbose=0)
    path = os.path.join(tmp, "custom.keras")
    model.save(path)
    loaded = K.models.load_model(path)
    out["loaded_class"] = type(loaded.layers[1]).__name__
    out["loaded_units"] = loaded.layers[1].get_config()["units"]
    out["loaded"] = loaded.predict(x, verbose=0)
    inputs = K.Input(shape=(6,), dtype="int32")
    hidden = MaskedProjection(4)(K.layers.Embedding(12, 5, mask_zero=True)(inputs))
    functional = K.Model(inputs, K.layers.GRU(2)(hidden))
    out["functional_shape"] = list(functional.output.shape)


def _minimal_rnn_cell_class(K):
    """The custom cell of Keras's RNN guide: ``state_size`` and ``call(inputs, states)``."""

    class MinimalRNNCell(K.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform",
                                          name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            h = K.ops.matmul(inputs, self.kernel)
            output = K.ops.tanh(h + K.ops.matmul(prev_output, self.recurrent_kernel))
            return output, [output]

    return MinimalRNNCell


def custom_rnn_cell(K, out, init=None, tmp=None):
    """RNN(MinimalRNNCell(8), return_sequences=True) -> TimeDistributed(Dense): a user's cell in Keras's RNN."""
    MinimalRNNCell = _minimal_rnn_cell_class(K)
    rs = np.random.RandomState(23)
    x, y = rs.rand(24, 6, 3).astype("float32"), rs.rand(24, 6, 1).astype("float32")
    model = K.Sequential([K.Input(shape=(6, 3)), K.layers.RNN(MinimalRNNCell(8), return_sequences=True),
                          K.layers.TimeDistributed(K.layers.Dense(1))])
    _train(K, model, out, init, x, y, "rmsprop", "mse", batch_size=8, epochs=3)


def model_subclass(K, out, init=None, tmp=None):
    """A Model subclass with layers in __init__ and call(inputs, training=None), trained with fit."""

    class Classifier(K.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embed = K.layers.Embedding(15, 4, mask_zero=True)
            self.rnn = K.layers.GRU(5)
            self.dropout = K.layers.Dropout(0.0)
            self.head = K.layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            return self.head(self.dropout(self.rnn(self.embed(inputs)), training=training))

    rs = np.random.RandomState(24)
    x = rs.randint(1, 15, (32, 5))
    x[:10, 3:] = 0
    y = rs.randint(0, 3, (32,))
    model = Classifier()
    model(x[:2])  # builds the weights (a subclass has no Input)
    _start(K, model, out, init)
    out["count_params"] = model.count_params()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    out["before"] = model.predict(x, verbose=0)
    out["history"] = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    out["evaluate"] = model.evaluate(x, y, verbose=0)
    out["after"] = model.predict(x, verbose=0)


OBJECT_MODEL_PROGRAMS = [frozen_pretrained_embeddings, learning_rate_changed_mid_training,
                         custom_layer_with_weights_and_mask, custom_rnn_cell, model_subclass]
