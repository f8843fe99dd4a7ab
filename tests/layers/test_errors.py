"""Errors that teach: each message names the layer, what was expected, what came, and the fix."""
import pytest
import torch

from seqlayers import (
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    Model,
    RepeatVector,
    Reshape,
    Sequential,
    TimeDistributed,
)


def test_dense_refuses_1d_input_with_the_fix():
    with pytest.raises(ValueError, match=r"Dense 'd': expected input of shape \(batch, \.\.\., features\), got \(3,\)\."
                                         r" .*x\[None, :\]"):
        Dense(3, name="d")(torch.zeros(3))


def test_wrong_feature_size_after_build_names_the_sizes():
    d = Dense(3, name="out")
    d(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"Dense 'out': expected .* with 4 at axis -1, got \(2, 5\)"):
        d(torch.zeros(2, 5))


def test_time_distributed_on_2d_input_suggests_return_sequences():
    with pytest.raises(ValueError, match=r"TimeDistributed.*got \(32, 8\)\. .*return_sequences=True"):
        TimeDistributed(Dense(1))(torch.zeros(32, 8))


def test_repeat_vector_on_a_sequence_suggests_return_sequences_false():
    with pytest.raises(ValueError, match=r"RepeatVector.*expected input of shape \(batch, features\), got \(2, 5, "
                                         r"3\).*return_sequences"):
        RepeatVector(3)(torch.zeros(2, 5, 3))


def test_fractional_float_ids_into_embedding_are_refused():  # whole-valued float ids are cast (issue 15)
    with pytest.raises(TypeError, match=r"Embedding.*expected integer token ids, got torch.float32 with the "
                                        r"non-integral value 0.5"):
        Embedding(10, 3)(torch.full((2, 4), 0.5))


def test_embedding_ids_out_of_range_say_how_to_size_input_dim():
    with pytest.raises(ValueError, match=r"Embedding.*expected ids in \[0, 9\].*got id 10.*input_dim"):
        Embedding(10, 3)(torch.tensor([[1, 10]]))


def test_unknown_activation_suggests_the_closest_names():
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'\. Did you mean 'relu'"):
        Dense(3, activation="rleu")


def test_unknown_initializer_suggests_the_closest_names():
    with pytest.raises(ValueError, match=r"unknown initializer 'glorot_unifrom'\. Did you mean 'glorot_uniform'"):
        Dense(3, kernel_initializer="glorot_unifrom")


def test_misspelled_keyword_argument_suggests_the_right_one():
    with pytest.raises(TypeError,
                       match=r"Dense: unexpected keyword argument 'activaton'\. Did you mean 'activation'\?"):
        Dense(3, activaton="relu")


def test_bad_argument_values_are_refused():
    with pytest.raises(ValueError, match=r"Dense: units must be a positive integer, got 0"):
        Dense(0)
    with pytest.raises(ValueError, match=r"Dropout: rate must be a number in \[0, 1\), got 1.5"):
        Dropout(1.5)
    with pytest.raises(TypeError, match=r"TimeDistributed: expected a layer .* Write TimeDistributed\(Dense\(3\)\)"):
        TimeDistributed(3)


def test_get_weights_before_build_explains_how_to_build():
    with pytest.raises(ValueError, match=r"get_weights\(\) needs the layer's weights.*input_shape"):
        Dense(3).get_weights()


def test_set_weights_with_wrong_shapes_names_both():
    d = Dense(3, input_shape=(4,))
    with pytest.raises(ValueError, match=r"set_weights array 0 has shape \(5, 3\), expected \(4, 3\)"):
        d.set_weights([torch.zeros(5, 3).numpy(), torch.zeros(3).numpy()])
    with pytest.raises(ValueError, match=r"set_weights expected 2 arrays"):
        d.set_weights([torch.zeros(4, 3).numpy()])


def test_reshape_with_incompatible_target_names_the_sizes():
    with pytest.raises(ValueError, match=r"Reshape.*expected 10 values per sample"):
        Reshape((5, 2))(torch.zeros(2, 3, 4))


def test_concatenate_of_mismatched_shapes_names_them():
    with pytest.raises(ValueError, match=r"Concatenate.*must match on every axis except axis -1, got \(2, 3, 4\), \(2, "
                                         r"5, 4\)"):
        Concatenate()([torch.zeros(2, 3, 4), torch.zeros(2, 5, 4)])


def test_masking_on_2d_input_explains_the_time_axis():
    with pytest.raises(ValueError, match=r"Masking.*\(batch, time, features\).*x\[\.\.\., None\]"):
        Masking()(torch.zeros(2, 5))


def test_functional_model_with_missing_input_names_it():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(3,), name="b")
    y = Concatenate()([a, b])
    with pytest.raises(ValueError, match=r"depends on Input b, which is not in inputs"):
        Model(a, y)


def test_functional_model_called_with_wrong_number_of_inputs():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(3,), name="b")
    m = Model([a, b], Concatenate()([a, b]))
    with pytest.raises(ValueError, match=r"expected 2 inputs \(a, b\), got 1"):
        m([torch.zeros(1, 3)])


def test_sequential_refuses_non_layers_with_the_fix():
    with pytest.raises(TypeError, match=r"Did you mean to call the layer class, e.g. Dense\(1\) rather than Dense\?"):
        Sequential([Dense])


def test_summary_of_unbuilt_model_says_how_to_build():
    with pytest.raises(ValueError, match=r"summary\(\) needs the model built.*input_shape"):
        Sequential([Dense(1)]).summary()
