"""A catalogue of bad inputs: each one gives a ValueError/TypeError (or ModelFileError) that names the
layer or argument, what was expected, what was received and the fix, and never a raw torch/numpy error.

Every case pins its message with ``pytest.raises(match=...)`` and then checks, with ``no_torch_leak``,
that the message does not look like a torch or numpy internal one.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from seqlayers import (
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    RepeatVector,
    Reshape,
    Sequential,
    TimeDistributed,
)

#: fragments of torch / numpy internal messages that must never reach a user
TORCH_INTERNALS = re.compile(
    r"mat1 and mat2|size mismatch|index out of range in self|must match the size of tensor|"
    r"Expected .* to have|RuntimeError|shape '\[|invalid for input of size|expected scalar type|"
    r"Tensor for argument|not implemented for|could not be broadcast|operands could not|"
    r"only integer tensors|IndexError|dimension out of range|Trying to resize", re.I)


def no_torch_leak(excinfo) -> None:
    msg = str(excinfo.value)
    assert not TORCH_INTERNALS.search(msg), f"torch/numpy internal message leaked: {msg}"
    assert type(excinfo.value).__module__ in ("builtins", "seqlayers.errors"), type(excinfo.value)


def raises(exc, match):
    """``pytest.raises`` that also checks the message is the library's own (used as a context manager)."""
    return _Raises(exc, match)


class _Raises:
    def __init__(self, exc, match):
        self.cm = pytest.raises(exc, match=match)

    def __enter__(self):
        self.info = self.cm.__enter__()
        return self.info

    def __exit__(self, *a):
        out = self.cm.__exit__(*a)
        no_torch_leak(self.info)
        return out


# ================================================================ core layers: rank, size, dtype
def test_dense_wrong_feature_size_after_build_on_3d_input():
    d = Dense(2, name="proj")
    d(torch.zeros(2, 3, 4))
    with raises(ValueError, r"Dense 'proj': expected .* with 4 at axis -1, got \(2, 3, 5\).*build a new layer"):
        d(torch.zeros(2, 3, 5))


def test_sequential_wrong_feature_size_names_the_first_layer():
    m = Sequential([Dense(2, input_shape=(3,))])
    with raises(ValueError, r"Dense 'dense(_\d+)?': expected .* with 3 at axis -1, got \(2, 4\)"):
        m(torch.zeros(2, 4))


# Keras casts bool/int data for float layers to the layer's dtype (issue 15): so does seqlayers.
def test_boolean_data_into_dense_is_cast_to_float():
    layer = Dense(2)
    x = torch.tensor([[True, False, True], [False, False, True]])
    torch.testing.assert_close(layer(x), layer(x.float()))


def test_integer_numpy_data_into_sequential_and_a_layer_is_cast_as_keras_casts():
    m = Sequential([Dense(2, input_shape=(3,))])
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    torch.testing.assert_close(m(x), m(x.astype("float32")))  # issue 16: cast to the Input's float32
    # issue 15: a float layer called directly casts bool/int data to its dtype too, as Keras's layers do
    torch.testing.assert_close(m.layers[0](torch.as_tensor(x)), m(x.astype("float32")))


def test_integer_data_into_masking_is_cast_to_float():
    x = torch.tensor([[[0, 0], [1, 2]]])
    out = Masking()(x)
    assert out.dtype == torch.float32 and out.tolist() == [[[0.0, 0.0], [1.0, 2.0]]]


def test_whole_float64_numpy_ids_into_embedding_are_cast():
    layer = Embedding(5, 2)
    torch.testing.assert_close(layer(np.array([[1.0, 4.0]])), layer(torch.tensor([[1, 4]])))


def test_fractional_ids_into_embedding_are_refused():
    with raises(TypeError, r"Embedding: expected integer token ids, got torch.float64 with the non-integral value "
                           r"0.3.*x.long\(\)"):
        Embedding(5, 2)(np.array([[1.0, 0.3]]))


def test_negative_id_into_embedding_names_the_range():
    with raises(ValueError, r"Embedding: expected ids in \[0, 4\] \(input_dim=5\), got id -1"):
        Embedding(5, 2)(torch.tensor([[-1, 2]]))


def test_time_distributed_refuses_a_2d_tensor_with_the_fix():
    with raises(ValueError, r"TimeDistributed 'td': expected input of shape \(batch, time, \.\.\.\).*got \(4, "
                            r"6\)\..*return_sequences=True"):
        TimeDistributed(Dense(1), name="td")(torch.zeros(4, 6))


def test_time_distributed_mask_with_other_batch_size_is_refused():
    with raises(ValueError, r"TimeDistributed: expected a mask of shape \(batch, time\) = \(2, 3\).*got \(3, 3\)"):
        TimeDistributed(Dense(2))(torch.zeros(2, 3, 4), mask=torch.ones(3, 3, dtype=torch.bool))


def test_time_distributed_mask_with_other_time_size_is_refused():
    with raises(ValueError, r"TimeDistributed: expected a mask of shape \(batch, time\) = \(2, 3\).*got \(2, 5\)"):
        TimeDistributed(Dense(2))(torch.zeros(2, 3, 4), mask=torch.ones(2, 5, dtype=torch.bool))


def test_add_of_different_shapes_names_them():
    with raises(ValueError, r"Add: inputs must have the same shape, got \(2, 3\), \(2, 4\)"):
        Add()([torch.zeros(2, 3), torch.zeros(2, 4)])


def test_concatenate_of_a_single_tensor_says_how_to_call_it():
    with raises(ValueError, r"Concatenate: expected a list of at least 2 inputs.*Concatenate\(\)\(\[a, b\]\)"):
        Concatenate()(torch.zeros(2, 3))


def test_reshape_with_two_unknown_sizes_is_refused():
    with raises(ValueError, r"Reshape: at most one entry of target_shape may be -1, got \(-1, -1\)"):
        Reshape((-1, -1))


def test_input_with_negative_size_is_refused():
    with raises(ValueError, r"Input: .*positive.*got \(-1, 3\)"):
        Input(shape=(-1, 3))


# ================================================================ argument values
def test_repeat_vector_zero_is_refused():
    with raises(ValueError, r"RepeatVector: n must be a positive integer, got 0"):
        RepeatVector(0)


def test_dense_units_as_string_is_refused():
    with raises(ValueError, r"Dense: units must be a positive integer, got '3'"):
        Dense("3")


def test_dropout_negative_rate_is_refused():
    with raises(ValueError, r"Dropout: rate must be a number in \[0, 1\), got -0.1"):
        Dropout(-0.1)


def test_embedding_with_empty_vocabulary_is_refused():
    with raises(ValueError, r"Embedding: input_dim must be a positive integer, got 0"):
        Embedding(0, 3)


def test_unknown_dtype_lists_the_valid_ones():
    with raises(ValueError, r"Dense: dtype must be one of float32, .*got 'int8'"):
        Dense(3, dtype="int8")


# ================================================================ unknown names suggest the closest ones
def test_unknown_activation_layer_name_suggests_sigmoid():
    with raises(ValueError, r"Activation: unknown activation 'sigmod'\. Did you mean 'sigmoid'"):
        Activation("sigmod")


def test_unknown_initializer_suggests_the_closest():
    with raises(ValueError, r"unknown initializer 'he_normall'\. Did you mean 'he_normal'"):
        Dense(3, kernel_initializer="he_normall")


def test_unknown_loss_name_suggests_the_closest():
    from seqlayers.training import losses
    with raises(ValueError, r"unknown loss 'mean_sqared_error'\. Did you mean 'mean_squared_error'"):
        losses.get("mean_sqared_error")


# ================================================================ y shapes that do not fit the loss
def _probs(*shape):
    return torch.softmax(torch.zeros(*shape), -1)


def test_one_hot_targets_with_sparse_loss_suggest_categorical():
    from seqlayers.training import losses
    with raises(ValueError, r"y_true of shape \(2, 3, 4\) looks one-hot.*expects integer class ids of shape "
                            r"\(2, 3\)\. Use loss='categorical_crossentropy'.*y.argmax\(-1\)"):
        losses.get("sparse_categorical_crossentropy")(torch.eye(4)[torch.zeros(2, 3, dtype=torch.long)],
                                                      _probs(2, 3, 4))


def test_class_ids_with_categorical_loss_suggest_sparse():
    from seqlayers.training import losses
    with raises(ValueError, r"y_true of shape \(2, 3\) looks like integer class ids.*one-hot targets of the "
                            r"output's shape \(2, 3, 4\)\. Use loss='sparse_categorical_crossentropy'"):
        losses.get("categorical_crossentropy")(torch.zeros(2, 3, dtype=torch.long), _probs(2, 3, 4))


def test_targets_missing_the_time_axis_name_both_shapes():
    from seqlayers.training import losses
    with raises(ValueError, r"mean_squared_error: y_true of shape \(2, 1\) does not match the model output of shape "
                            r"\(2, 3\)"):
        losses.get("mse")(torch.zeros(2, 1), torch.zeros(2, 3, 1))


def test_class_id_beyond_the_output_size_says_how_many_units():
    from seqlayers.training import losses
    with raises(ValueError, r"class id 7 is outside 0\.\.3 \(the model outputs 4 classes\)"):
        losses.get("sparse_categorical_crossentropy")(torch.full((2, 3), 7), _probs(2, 3, 4))


def test_fractional_sparse_targets_are_refused():
    from seqlayers.training import losses
    with raises(ValueError, r"y_true holds non-integer values; sparse targets are class ids"):
        losses.get("sparse_categorical_crossentropy")(torch.full((2, 3), 1.5), _probs(2, 3, 4))


# ================================================================ configs with missing or extra fields
def test_layer_config_with_missing_field_names_it():
    with raises(TypeError, r"Dense: missing a required argument: 'units'"):
        Dense.from_config({"name": "x"})


def test_layer_config_with_extra_field_names_it_and_lists_valid_ones():
    with raises(TypeError, r"Dense: unexpected keyword argument 'bogus'\. Valid arguments: units, activation"):
        Dense.from_config({"units": 3, "bogus": 1})


# ================================================================ data readers
def test_conllu_with_spaces_instead_of_tabs_names_file_and_line(tmp_path):
    from seqlayers.data import read_conllu
    p = tmp_path / "bad.conllu"
    p.write_text("# sent_id = 1\n1 The the DET DT _ 2 det _ _\n\n", encoding="utf-8")
    with raises(ValueError, r"bad.conllu:2: expected 10 tab-separated CoNLL-U columns, got 1.*tabs, not spaces"):
        read_conllu(p)


def test_conllu_empty_file_is_refused(tmp_path):
    from seqlayers.data import read_conllu
    p = tmp_path / "empty.conllu"
    p.write_text("", encoding="utf-8")
    with raises(ValueError, r"empty.conllu: no sentences found"):
        read_conllu(p)


def test_snips_tags_that_do_not_match_tokens_name_the_line(tmp_path):
    from seqlayers.data import read_snips_split
    (tmp_path / "seq.in").write_text("play some jazz\n", encoding="utf-8")
    (tmp_path / "seq.out").write_text("O O\n", encoding="utf-8")
    (tmp_path / "label").write_text("PlayMusic\n", encoding="utf-8")
    with raises(ValueError, r"seq.out:1: 2 tags for the 3 tokens of seq.in line 1"):
        read_snips_split(tmp_path)


def test_dialogue_jsonl_that_is_not_json_names_the_line(tmp_path):
    from seqlayers.data import read_dialogues
    p = tmp_path / "d.jsonl"
    p.write_text('{"turns": [{"user": "hi", "system_acts": ["GREET"]}]}\n{oops\n', encoding="utf-8")
    with raises(ValueError, r"d.jsonl:2: not valid JSON"):
        read_dialogues(p)


def test_csv_with_a_text_value_names_line_and_column(tmp_path):
    from seqlayers.data.csv_reader import read_numeric_csv
    p = tmp_path / "s.csv"
    p.write_text("date,OT\n2020,1.0\n2021,n/a\n", encoding="utf-8")
    with raises(ValueError, r"s.csv, line 3, column 'OT': 'n/a' is not a number"):
        read_numeric_csv(p)


def test_csv_with_an_unknown_column_lists_the_existing_ones(tmp_path):
    from seqlayers.data.csv_reader import read_numeric_csv
    p = tmp_path / "s.csv"
    p.write_text("date,OT\n2020,1.0\n", encoding="utf-8")
    with raises(ValueError, r"has no column 'HUFL'\. Columns in the file: date, OT"):
        read_numeric_csv(p, columns=["HUFL"])


def test_reader_given_a_latin1_file_names_file_line_and_encoding(tmp_path):
    from seqlayers.data import read_conllu
    p = tmp_path / "latin1.conllu"
    p.write_bytes("1\tcaf\xe9\tcaf\xe9\tNOUN\tNN\t_\t0\troot\t_\t_\n".encode("latin1"))
    with raises(ValueError, r"latin1.conllu:1: not UTF-8 text \(byte 0xe9 at offset 5.*Save the file as UTF-8"):
        read_conllu(p)


# ================================================================ recurrent layers
from seqlayers import GRU, LSTM, SimpleRNN  # noqa: E402


def test_2d_tensor_into_lstm_suggests_return_sequences():
    with raises(ValueError, r"LSTM 'lstm': expected input of shape \(batch, time, features\), got \(32, 8\)\. "
                            r"A 2-D input usually means the previous recurrent layer needs return_sequences=True"):
        LSTM(3, name="lstm")(torch.zeros(32, 8))


def test_stacked_lstm_without_return_sequences_names_the_second_layer():
    with raises(ValueError, r"LSTM 'dec': expected input of shape \(batch, time, features\), got \(None, "
                            r"4\)\..*return_sequences=True"):
        Sequential([LSTM(4, input_shape=(5, 2), name="enc"), LSTM(3, name="dec")])
    m = Sequential([LSTM(4, name="enc"), LSTM(3, name="dec")])  # built lazily: the same message at call time
    with raises(ValueError, r"LSTM 'dec': expected input of shape \(batch, time, features\), got \((None|2), "
                            r"4\)\..*return_sequences=True"):
        m(torch.zeros(2, 5, 2))


def test_integer_data_into_gru_is_cast_to_float():
    layer = GRU(3)
    x = torch.arange(24).reshape(2, 3, 4) % 3
    torch.testing.assert_close(layer(x), layer(x.float()))


def test_wrong_feature_size_after_build_into_simple_rnn():
    layer = SimpleRNN(3, name="rnn")
    layer(torch.zeros(2, 3, 4))
    with raises(ValueError, r"SimpleRNN 'rnn': expected input of shape \(batch, time, features\) with 4 at axis -1, got"
                            r" \(2, 3, 5\)"):
        layer(torch.zeros(2, 3, 5))


def test_mask_with_other_batch_size_into_lstm():
    with raises(ValueError, r"LSTM: expected a mask of shape \(batch, time\) = \(2, 3\) matching the input, got \(3, "
                            r"3\)\..*x_ids != 0"):
        LSTM(3)(torch.zeros(2, 3, 4), mask=torch.ones(3, 3, dtype=torch.bool))


def test_mask_with_other_time_size_into_gru():
    with raises(ValueError,
                r"GRU: expected a mask of shape \(batch, time\) = \(2, 3\) matching the input, got \(2, 4\)"):
        GRU(3)(torch.zeros(2, 3, 4), mask=torch.ones(2, 4, dtype=torch.bool))


def test_zero_time_steps_into_lstm_is_refused_without_a_torch_error():
    with raises(ValueError, r"LSTM: expected at least one time step, got input of shape \(2, 0, 4\)\. Drop empty "
                            r"sequences"):
        LSTM(3)(torch.zeros(2, 0, 4))


def test_changed_batch_size_for_a_stateful_layer_says_drop_last():
    layer = LSTM(3, stateful=True, batch_input_shape=(4, 5, 2), name="s")
    layer(torch.zeros(4, 5, 2))
    with raises(ValueError, r"LSTM 's': a stateful layer keeps states for a batch of 4, got a batch of "
                            r"3\..*drop_last=True"):
        layer(torch.zeros(3, 5, 2))


def test_stateful_layer_without_batch_size_says_how_to_give_one():
    with raises(ValueError, r"stateful=True needs a fixed batch size.*batch_input_shape=\(32, T, F\)"):
        Sequential([LSTM(3, stateful=True, input_shape=(5, 2))])


def test_initial_state_with_one_tensor_for_an_lstm_says_h_and_c():
    with raises(ValueError, r"LSTM: initial_state must be a list of 2 tensor\(s\) of shapes \(2, 3\), \(2, 3\), got 1\."
                            r" An LSTM takes \[h, c\]"):
        LSTM(3)(torch.zeros(2, 3, 4), initial_state=[torch.zeros(2, 3)])


def test_unknown_recurrent_activation_suggests_hard_sigmoid():
    with raises(ValueError, r"GRUCell: unknown activation 'hard_sigmod'\. Did you mean 'hard_sigmoid'"):
        GRU(3, recurrent_activation="hard_sigmod")


def test_unknown_recurrent_initializer_suggests_orthogonal():
    with raises(ValueError, r"unknown initializer 'orthogonl'\. Did you mean 'orthogonal'"):
        LSTM(3, recurrent_initializer="orthogonl")


def test_recurrent_dropout_of_one_is_refused():
    with raises(ValueError, r"LSTMCell: recurrent_dropout must be a number in \[0, 1\), got 1.0"):
        LSTM(3, recurrent_dropout=1.0)


# ---------------------------------------------------------------- a sequence with every step masked
# Decision (as Keras): a fully masked sequence gives a zero output (zeros before the first valid step)
# and its final states are the initial states (zeros, or initial_state when given); never NaN.
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("right_padded", [True, False])
def test_fully_masked_sequence_gives_zeros_and_initial_state(cls, return_sequences, right_padded):
    torch.manual_seed(1)
    layer = cls(3, return_state=True, return_sequences=return_sequences)
    x = torch.randn(2, 4, 5)
    valid = [True] * 4 if right_padded else [True, False, True, True]  # the other row is all masked
    mask = torch.tensor([valid, [False] * 4])
    n_states = 2 if cls is LSTM else 1
    init = [torch.randn(2, 3) for _ in range(n_states)]
    out, *states = layer(x, mask=mask)
    assert layer.last_path == ("fused_padded" if right_padded else "loop")
    assert all(torch.isfinite(t).all() for t in [out, *states])
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    assert all(torch.equal(s[1], torch.zeros(3)) for s in states)
    out, *states = layer(x, mask=mask, initial_state=init)
    assert all(torch.equal(s[1], i[1]) for s, i in zip(states, init))  # final state == initial state
    assert torch.equal(out[1], torch.zeros_like(out[1]))  # Keras: zeros, not the initial h


# ================================================================ training: compile / fit
def _tagger(loss="mse", optimizer="adam"):
    m = Sequential([LSTM(4, return_sequences=True, input_shape=(5, 2)), TimeDistributed(Dense(3))])
    m.compile(optimizer, loss)
    return m


def _xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 5, 2)).astype("float32"), rng.normal(size=(8, 5, 3)).astype("float32")


def test_nan_in_inputs_during_fit_names_the_sample():
    x, y = _xy()
    x[1, 2, 0] = np.nan
    with raises(ValueError, r"fit: x contains NaN at index \(1, 2, 0\) \(sample 1\)\..*np.nan_to_num"):
        _tagger().fit(x, y, epochs=1, verbose=0)


def test_inf_in_targets_during_fit_names_the_sample():
    x, y = _xy()
    y[0, 0, 0] = np.inf
    with raises(ValueError, r"fit: y contains inf at index \(0, 0, 0\) \(sample 0\)"):
        _tagger().fit(x, y, epochs=1, verbose=0)


def test_empty_data_is_refused():
    x, y = _xy()
    with raises(ValueError, r"fit: x is empty \(0 samples\); there is nothing to train on"):
        _tagger().fit(x[:0], y[:0], epochs=1, verbose=0)


@pytest.mark.parametrize("bad", [0, -1])
def test_batch_size_not_positive_is_refused(bad):
    x, y = _xy()
    with raises(ValueError, rf"fit: batch_size must be a positive integer, got {bad}"):
        _tagger().fit(x, y, batch_size=bad, verbose=0)


def test_predict_batch_size_zero_is_refused():
    x, _ = _xy()
    with raises(ValueError, r"predict: batch_size must be a positive integer, got 0"):
        _tagger().predict(x, batch_size=0, verbose=0)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])  # 0.0 is the default: no validation
def test_validation_split_outside_0_1_is_refused(bad):
    x, y = _xy()
    with raises(ValueError, rf"fit: validation_split must be a fraction strictly between 0 and 1 .*got {bad}"):
        _tagger().fit(x, y, validation_split=bad, verbose=0)


def test_mismatched_lengths_of_x_and_y_name_both():
    x, y = _xy()
    with raises(ValueError, r"fit: the arrays must have the same number of samples \(first axis\): x has 8, y has 6"):
        _tagger().fit(x, y[:6], verbose=0)


def test_sample_weight_of_wrong_length_names_it():
    x, y = _xy()
    with raises(ValueError, r"sample_weight has 3"):
        _tagger().fit(x, y, sample_weight=np.ones(3), verbose=0)


def test_unknown_optimizer_suggests_adam():
    with raises(ValueError, r"compile: unknown optimizer 'adamm'\. Did you mean 'adam'"):
        _tagger(optimizer="adamm")


def test_unknown_metric_suggests_accuracy():
    with raises(ValueError, r"compile: unknown metric 'accuracyy'\. Did you mean 'accuracy'"):
        Sequential([Dense(1, input_shape=(2,))]).compile("adam", "mse", metrics=["accuracyy"])


def test_one_hot_targets_to_fit_with_sparse_loss_give_the_fix():
    x, _ = _xy()
    y = np.eye(3, dtype="float32")[np.zeros((8, 5), int)]
    with raises(ValueError, r"looks one-hot.*Use loss='categorical_crossentropy'"):
        _tagger("sparse_categorical_crossentropy").fit(x, y, verbose=0)


def test_targets_without_time_axis_to_fit_explain_return_sequences():
    x, y = _xy()
    with raises(ValueError, r"y_true of shape \(8, 3\) does not match the model output of shape \(8, 5, 3\)\..*"
                            r"no time axis.*drop return_sequences=True"):
        _tagger().fit(x, y[:, 0], verbose=0)


def test_validation_data_that_does_not_fit_the_loss_is_explained():
    x, y = _xy()
    with raises(ValueError, r"y_true of shape \(8, 3\) does not match"):
        _tagger().fit(x, y, validation_data=(x, y[:, 0]), verbose=0)


def test_fit_before_compile_says_compile_first():
    with raises(RuntimeError, r"fit: the model must be compiled first, e.g. model.compile\(optimizer='adam'"):
        Sequential([Dense(1, input_shape=(2,))]).fit(np.zeros((2, 2), "float32"), np.zeros((2, 1), "float32"),
                                                     verbose=0)


def test_integer_features_are_cast_by_the_model_and_by_a_layer_as_keras_casts():
    x, y = _xy()
    model = _tagger()
    model.fit(x.astype(int), y, verbose=0)  # issue 16: a model casts to its Input's dtype, as Keras
    np.testing.assert_array_equal(model.predict(x.astype(int), verbose=0),
                                  model.predict(x.astype(int).astype("float32"), verbose=0))
    lstm = model.layers[0]  # issue 15: a layer called directly casts too
    torch.testing.assert_close(lstm(torch.as_tensor(x.astype(int))), lstm(torch.as_tensor(x.astype(int)).float()))


# ================================================================ model files
import io as _io  # noqa: E402
import zipfile  # noqa: E402

from seqlayers import ModelFileError, from_keras, load_model  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved model: (path, {member: bytes})."""
    path = tmp_path_factory.mktemp("saved") / "m.seqlayers"
    Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)]).save(path)
    with zipfile.ZipFile(path) as zf:
        return path, {n: zf.read(n) for n in zf.namelist()}


def _with_config(tmp_path, files, edit):
    cfg = json.loads(files["config.json"])
    edit(cfg)
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", json.dumps(cfg))
        zf.writestr("model.safetensors", files["model.safetensors"])
    path = tmp_path / "edited.seqlayers"
    path.write_bytes(buf.getvalue())
    return path


def test_truncated_model_file(tmp_path, saved):
    raw = saved[0].read_bytes()
    (tmp_path / "t.seqlayers").write_bytes(raw[: len(raw) // 2])
    with raises(ModelFileError, r"t.seqlayers': not a readable seqlayers model file \(truncated or corrupted\?\)"):
        load_model(tmp_path / "t.seqlayers")


def test_corrupted_model_file(tmp_path, saved):
    raw = bytearray(saved[0].read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    (tmp_path / "c.seqlayers").write_bytes(bytes(raw))
    with raises(ModelFileError, r"c.seqlayers'.*(corrupted|SHA-256)"):
        load_model(tmp_path / "c.seqlayers")


def test_empty_model_file(tmp_path):
    (tmp_path / "e.seqlayers").write_bytes(b"")
    with raises(ModelFileError, r"e.seqlayers': not a readable seqlayers model file"):
        load_model(tmp_path / "e.seqlayers")


def test_model_file_of_a_newer_format_version_says_upgrade(tmp_path, saved):
    path = _with_config(tmp_path, saved[1], lambda c: c.update(format_version=2))
    with raises(ModelFileError, r"written in format version 2 .*this seqlayers reads version 1\. Upgrade seqlayers"):
        load_model(path)


def test_model_config_missing_a_field_names_it(tmp_path, saved):
    path = _with_config(tmp_path, saved[1], lambda c: c.pop("weights"))
    with raises(ModelFileError, r"config.json lacks field\(s\) \['weights'\]"):
        load_model(path)


def test_model_config_with_an_extra_field_names_it(tmp_path, saved):
    path = _with_config(tmp_path, saved[1], lambda c: c.update(extra=1))
    with raises(ModelFileError, r"config.json has unexpected field\(s\) \['extra'\]"):
        load_model(path)


def test_layer_config_missing_units_names_the_layer_and_file(tmp_path, saved):
    path = _with_config(tmp_path, saved[1], lambda c: c["model"]["config"]["layers"][0]["config"].pop("units"))
    with raises(ModelFileError, r"edited.seqlayers': Sequential > layer 0 > LSTM 'lstm(_\d+)?': .*missing a required "
                                r"argument: 'units'"):
        load_model(path)


def test_layer_config_with_misspelled_field_suggests_the_right_one(tmp_path, saved):
    path = _with_config(tmp_path, saved[1], lambda c: c["model"]["config"]["layers"][0]["config"].update(unitz=3))
    with raises(ModelFileError, r"LSTM 'lstm(_\d+)?'.*unexpected keyword argument 'unitz'\. Did you mean 'units'\?"):
        load_model(path)


def test_unknown_layer_class_in_a_model_file_says_how_to_register_it(tmp_path, saved):
    path = _with_config(tmp_path, saved[1], lambda c: c["model"]["config"]["layers"][0].update(class_name="LSMT"))
    with raises(ModelFileError, r"unknown layer class 'LSMT'\. A custom layer must be registered before loading"):
        load_model(path)


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("keras")
    keras.Sequential([keras.Input((5, 2)), keras.layers.Conv1DTranspose(3, 2),
                      keras.layers.LSTM(2)]).save(folder / "conv.keras")
    keras.Sequential([keras.Input((5, 2)), keras.layers.Lambda(lambda v: v * 2)]).save(folder / "lam.keras")
    ok = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(2)])
    ok.save(folder / "ok.keras")
    ok.save(folder / "ok.h5")
    return folder


def test_keras_file_with_an_unsupported_layer_names_it_and_lists_supported(keras_files):
    with raises(ValueError, r"from_keras: unsupported layer Conv1DTranspose 'conv1d_transpose' at model layer 1 of 2\. "
                            r"Supported layers: .*LSTM"):
        from_keras(keras_files / "conv.keras")


def test_keras_lambda_bytecode_is_never_run(keras_files):
    with raises(ValueError, r"anonymous lambda \(stored as Python bytecode\); seqlayers never runs code from a model "
                            r"file"):
        from_keras(keras_files / "lam.keras")


@pytest.mark.parametrize("name", ["ok.keras", "ok.h5"])
def test_truncated_keras_file(tmp_path, keras_files, name):
    raw = (keras_files / name).read_bytes()
    (tmp_path / name).write_bytes(raw[: len(raw) // 2])
    with raises(ModelFileError, rf"{re.escape(name)}': neither a .keras zip nor an HDF5 file"):
        from_keras(tmp_path / name)


# ---------------------------------------------------------------- regressions found by fuzzing legacy .h5 files
def test_h5_with_broken_model_config_json_is_a_model_file_error(tmp_path, keras_files):
    import h5py

    path = tmp_path / "broken.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": [}'
    with raises(ModelFileError, r"broken.h5': the model config is not valid JSON \(corrupted file\?\)"):
        from_keras(path)


def test_h5_whose_weights_are_missing_names_the_layer(tmp_path, keras_files):
    import h5py

    path = tmp_path / "noweights.h5"
    with h5py.File(keras_files / "ok.h5", "r") as src, h5py.File(path, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v  # the config, without the model_weights group
    with raises(ValueError, r"from_keras: weights of LSTM 'lstm(_\d+)?' do not fit: .*set_weights expected 3 arrays "
                            r".*got none"):
        from_keras(path)


# ================================================================ Bidirectional
from seqlayers import Bidirectional  # noqa: E402


def test_2d_tensor_into_bidirectional_suggests_return_sequences():
    with raises(ValueError, r"Bidirectional: expected input of shape \(batch, time, features\), got \(2, "
                            r"3\)\..*return_sequences=True"):
        Bidirectional(LSTM(3))(torch.zeros(2, 3))


def test_bidirectional_around_a_dense_layer_shows_the_right_call():
    with raises(TypeError, r"Bidirectional: expected a recurrent layer to wrap .*got Dense\. Write "
                           r"Bidirectional\(LSTM\(64\)\)"):
        Bidirectional(Dense(3))


def test_bidirectional_unknown_merge_mode_lists_the_valid_ones():
    with raises(ValueError,
                r"Bidirectional: merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None, got 'cat'"):
        Bidirectional(LSTM(3), merge_mode="cat")


def test_bidirectional_mask_with_other_batch_size_names_the_direction():
    with raises(ValueError, r"LSTM 'forward_lstm': expected a mask of shape \(batch, time\) = \(2, 3\).*got \(3, 3\)"):
        Bidirectional(LSTM(3))(torch.zeros(2, 3, 4), mask=torch.ones(3, 3, dtype=torch.bool))


def test_bidirectional_initial_state_needs_both_directions():
    with raises(ValueError, r"Bidirectional: initial_state must be a list of 4 tensors \(the forward layer's 2 states, "
                            r"then the backward layer's 2\), got 1"):
        Bidirectional(LSTM(3))(torch.zeros(2, 3, 4), initial_state=[torch.zeros(2, 3)])
