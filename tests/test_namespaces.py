"""Keras's public namespaces import from seqlayers under Keras's names (each name checked on both sides)."""
import importlib

import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")

NAMES = {
    "layers": ["Input", "InputLayer", "Dense", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "TimeDistributed",
               "RepeatVector", "Embedding", "Masking", "Dropout", "Concatenate", "Add", "Attention", "Layer",
               "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "Lambda", "Flatten", "Reshape", "Activation"],
    "models": ["Sequential", "Model", "load_model", "clone_model", "model_from_json"],
    "callbacks": ["Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger", "History",
                  "LambdaCallback", "LearningRateScheduler", "TerminateOnNaN", "BackupAndRestore"],
    "optimizers": ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Nadam", "Optimizer", "get"],
    "losses": ["MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy", "CategoricalCrossentropy",
               "SparseCategoricalCrossentropy", "mean_squared_error", "binary_crossentropy", "get"],
    "metrics": ["Metric", "Accuracy", "Precision", "Recall", "F1Score", "get"],
    "utils": ["pad_sequences", "to_categorical", "set_random_seed", "timeseries_dataset_from_array",
              "plot_model", "PyDataset", "Sequence"],
    "preprocessing": ["sequence", "timeseries_dataset_from_array"],
    "preprocessing.sequence": ["pad_sequences"],
    "saving": ["load_model", "save_model"],
    "backend": ["clear_session", "floatx", "epsilon", "backend", "image_data_format"],
    "activations": ["relu", "tanh", "sigmoid", "softmax", "linear"],
    "initializers": ["Constant", "get"],
    "regularizers": ["L1", "L2", "L1L2", "Regularizer", "get"],
    "constraints": ["MaxNorm", "NonNeg", "UnitNorm", "Constraint", "get"],
}


@pytest.mark.parametrize("module", sorted(NAMES))
def test_keras_namespace_imports_with_keras_names(module):
    ours = importlib.import_module(f"seqlayers.{module}")
    ref = importlib.import_module(f"keras.{module}")
    for name in NAMES[module]:
        assert hasattr(ref, name), f"keras.{module}.{name} is not a Keras name"
        assert getattr(ours, name) is not None, f"seqlayers.{module}.{name}"


def test_from_imports_work_for_the_names_looked_up_on_first_use():
    from seqlayers.layers import Input, InputLayer
    from seqlayers.models import clone_model, load_model, model_from_json

    assert Input is seqlayers.Input and InputLayer is seqlayers.InputLayer
    assert load_model is seqlayers.load_model and callable(clone_model) and callable(model_from_json)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        seqlayers.layers.Nope  # noqa: B018


def test_backend_values_are_keras_ones():
    from seqlayers import backend

    assert backend.floatx() == keras.backend.floatx()
    assert backend.epsilon() == keras.backend.epsilon()
    assert backend.backend() == "torch" == keras.backend.backend()
    backend.clear_session()


def test_clone_model_and_model_from_json_rebuild_the_architecture_with_fresh_weights():
    from seqlayers import LSTM, Dense, Sequential
    from seqlayers.models import clone_model, model_from_json

    model = Sequential([LSTM(4, input_shape=(3, 2)), Dense(1)])
    x = np.random.rand(2, 3, 2).astype("float32")
    for copy in (clone_model(model), model_from_json(model.to_json())):
        assert [type(lyr).__name__ for lyr in copy.layers] == [type(lyr).__name__ for lyr in model.layers]
        assert copy.count_params() == model.count_params()
        assert not np.allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0))
        copy.set_weights(model.get_weights())
        np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_model_from_json_refuses_text_that_is_not_json():
    from seqlayers.models import model_from_json

    with pytest.raises(seqlayers.ModelFileError, match="not a JSON model config"):
        model_from_json("{nope")


def test_plot_model_draws_the_explain_picture(tmp_path):
    pytest.importorskip("matplotlib")
    from seqlayers import LSTM, Dense, Sequential
    from seqlayers.utils import plot_model

    model = Sequential([LSTM(4, input_shape=(3, 2)), Dense(1)])
    path = plot_model(model, to_file=str(tmp_path / "model.png"), show_shapes=True)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError, match="expected a seqlayers model"):
        plot_model(object())
