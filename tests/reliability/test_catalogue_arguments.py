"""Catalogue, round two: misuse of layers, models, compile/fit/predict arguments and devices.

Each case pins the message with ``pytest.raises(match=...)`` (through ``raises``, which also checks
that no torch/numpy internal message leaks) or, where Keras 3 accepts the call and so do we, asserts
the documented right answer.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers import GRU, LSTM, Dense, Input, Lambda, Model, Sequential, SimpleRNN

from .test_bad_inputs import raises


def _compiled(units=1, loss="mse"):
    m = Sequential([Dense(units, input_shape=(3,), activation="softmax" if units > 1 else None)])
    m.compile(optimizer="adam", loss=loss)
    return m


X, Y = np.zeros((4, 3), dtype="float32"), np.zeros((4, 1), dtype="float32")
IDS = np.array([0, 1, 0, 1])


# ================================================================ names (data loss: save, then load refuses)
def test_sequential_with_two_layers_of_one_name_is_refused_at_build_time():
    with raises(ValueError, r"Sequential: every layer needs a unique name .* 'd' is already the name of a layer"):
        Sequential([Dense(2, name="d", input_shape=(3,)), Dense(2, name="d")])


def test_sequential_add_of_a_second_layer_of_one_name_is_refused():
    m = Sequential([Dense(2, name="d", input_shape=(3,))])
    with raises(ValueError, r"'d' is already the name of a layer in this model; got another Dense 'd'\. Pass another "
                            r"name="):
        m.add(Dense(1, name="d"))


def test_sequential_pop_frees_the_name_of_the_popped_layer():
    m = Sequential([Dense(2, name="d", input_shape=(3,)), Dense(2, name="e")])
    m.pop()
    m.add(Dense(1, name="e"))
    assert [layer.name for layer in m.layers] == ["d", "e"]


def test_functional_model_with_two_layers_of_one_name_is_refused():
    x = Input((3,))
    y = Dense(2, name="d")(Dense(2, name="d")(x))
    with raises(ValueError, r"Model: the name 'd' is used by two layers of the model \(Dense 'd' and an earlier one\)"):
        Model(x, y)


def test_functional_model_layer_named_as_an_input_is_refused():
    x = Input((3,), name="d")
    with raises(ValueError, r"Model: the name 'd' is used by two layers"):
        Model(x, Dense(2, name="d")(x))


def test_functional_model_with_two_inputs_of_one_name_is_refused():
    a, b = Input((3,), name="x"), Input((3,), name="x")
    with raises(ValueError, r"Model: two inputs are named 'x'; every input needs a unique name"):
        Model([a, b], sl.Add()([a, b]))


def test_unnamed_layer_avoids_the_name_a_later_layer_was_given():
    x = Input((3,))
    model = Model(x, Dense(1, name="dense")(Dense(2)(x)))
    names = [layer.name for layer in model.layers[1:]]  # layers[0]: the InputLayer, as Keras lists it
    assert len(set(names)) == 2 and "dense" in names


# ================================================================ dtypes
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_complex_tensor_into_a_recurrent_layer_says_split_real_and_imaginary(cls):
    with raises(TypeError, rf"{cls.__name__}: expected real floating-point input, got torch.complex64\..*view_as_real"):
        cls(2)(torch.zeros(1, 3, 2, dtype=torch.complex64))


def test_complex_tensor_into_dense_is_refused():
    with raises(TypeError, r"Dense: expected real floating-point input, got torch.complex128"):
        Dense(2)(torch.zeros(1, 3, dtype=torch.complex128))


def test_complex_numpy_data_to_fit_is_refused():
    with raises(TypeError, r"x: expected real numbers, got complex64.*np.stack\(\[x.real, x.imag\], -1\)"):
        _compiled().fit(X.astype(np.complex64), Y, verbose=0)


def test_string_labels_to_fit_say_map_them_to_ids():
    with raises(TypeError, r"y: expected numbers, got an array of str32 values .*np.unique\(y, return_inverse=True\)"):
        _compiled(2, "sparse_categorical_crossentropy").fit(X, np.array(["a", "b", "a", "b"]), verbose=0)


def test_string_features_to_fit_say_turn_tokens_into_ids():
    with raises(TypeError, r"x: expected numbers, got an array of str32 values .*Vocab"):
        _compiled().fit(np.array([["1", "2", "3"]] * 4), Y, verbose=0)


def test_object_array_with_a_string_to_fit_is_refused():
    with raises(TypeError, r"x: expected numbers, got an array of object values"):
        _compiled().fit(np.array([[1, 2, 3], [1, 2, "x"]], dtype=object), Y[:2], verbose=0)


def test_ragged_lists_of_strings_to_fit_are_refused():
    with raises(TypeError, r"x: expected numbers, got an array of str\d+ values"):
        _compiled().fit([["a", "b"], ["c"]], Y[:2], verbose=0)


def test_string_sample_weight_to_fit_is_refused():
    with raises(TypeError, r"sample_weight: expected numbers, got an array of str32 values .*one number per sample"):
        _compiled().fit(X, Y, sample_weight=np.array(["a"] * 4), verbose=0)


def test_string_labels_to_evaluate_are_refused():
    with raises(TypeError, r"y: expected numbers, got an array of str32"):
        _compiled(2, "sparse_categorical_crossentropy").evaluate(X, np.array(["a", "b", "a", "b"]), verbose=0)


def test_string_data_to_predict_is_refused():
    with raises(TypeError, r"x: expected numbers, got an array of str32"):
        _compiled().predict(np.array([["1", "2", "3"]]), verbose=0)


def _built_dense():
    d = Dense(2, name="proj")
    d(torch.zeros(1, 3))
    return d


def test_set_weights_with_string_arrays_is_refused():
    with raises(TypeError, r"Dense 'proj': set_weights array 0 holds str32 values; expected real numbers"):
        _built_dense().set_weights([np.full((3, 2), "a"), np.array(["a", "b"])])


def test_set_weights_with_object_arrays_is_refused():
    with raises(TypeError, r"Dense 'proj': set_weights array 0 holds object values"):
        _built_dense().set_weights([np.zeros((3, 2), dtype=object), np.zeros(2)])


def test_set_weights_with_complex_arrays_is_refused():
    with raises(TypeError, r"Dense 'proj': set_weights array 0 holds complex64 values"):
        _built_dense().set_weights([np.zeros((3, 2), dtype=np.complex64), np.zeros(2)])


def test_set_weights_with_a_ragged_list_is_refused():
    with raises(TypeError, r"Dense 'proj': set_weights array 0 is a ragged nested list"):
        _built_dense().set_weights([[[1.0, 2.0], [3.0]], np.zeros(2)])


def test_set_weights_with_string_arrays_into_an_lstm_is_refused():
    lstm = LSTM(2)
    lstm(torch.zeros(1, 3, 2))
    with raises(TypeError, r"set_weights array 0 holds str32 values"):
        lstm.set_weights([np.full(w.shape, "a") for w in lstm.get_weights()])


def test_set_weights_with_float64_arrays_is_accepted_as_keras_does():
    d = _built_dense()
    d.set_weights([np.ones((3, 2)), np.zeros(2)])
    assert d.kernel.dtype == torch.float32 and float(d.kernel.detach().sum()) == 6.0


# ================================================================ return types of user functions
def test_lambda_returning_none_asks_for_the_return():
    with raises(TypeError, r"Lambda: expected <lambda>\(inputs\) to return a torch tensor .*got None\. Did the function"
                           r" forget its `return`"):
        Lambda(lambda v: None)(torch.zeros(2, 3))


def test_lambda_returning_none_in_a_sequential_is_refused_at_build_time():
    with raises(TypeError, r"Lambda 'lambda': expected .* got None"):
        Sequential([Lambda(lambda v: None, input_shape=(3,))])


def test_lambda_returning_a_numpy_array_asks_for_torch_operations():
    with raises(TypeError, r"got a numpy array of shape \(2, 3\)\. Use torch operations \(torch.tanh rather than "
                           r"np.tanh\)"):
        Lambda(lambda v: np.zeros((2, 3)))(torch.zeros(2, 3))


def test_lambda_returning_a_python_number_is_refused():
    with raises(TypeError, r"got int 3\. Wrap numbers with torch.as_tensor"):
        Lambda(lambda v: 3)(torch.zeros(2, 3))


def test_lambda_returning_a_list_holding_a_non_tensor_is_refused():
    with raises(TypeError, r"got NoneType None"):
        Lambda(lambda v: [v, None])(torch.zeros(2, 3))


def test_lambda_returning_a_list_of_tensors_is_accepted():
    out = Lambda(lambda v: [v, v * 2])(torch.ones(2, 3))
    assert isinstance(out, list) and float(out[1].sum()) == 12.0


def test_lambda_given_a_non_callable_is_refused():
    with raises(TypeError, r"Lambda: function must be callable, got int"):
        Lambda(3)


# ================================================================ fit / compile / callbacks arguments
def test_one_callback_not_in_a_list_is_accepted_as_keras_does():
    seen = []

    class Record(sl.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    _compiled().fit(X, Y, epochs=2, verbose=0, callbacks=Record())
    assert seen == [0, 1]


def test_callback_class_instead_of_an_instance_says_create_one():
    with raises(TypeError, r"fit: callbacks holds the class EarlyStopping, not an instance; create one, e.g. "
                           r"callbacks=\[EarlyStopping\(\.\.\.\)\]"):
        _compiled().fit(X, Y, verbose=0, callbacks=[sl.callbacks.EarlyStopping])


def test_bare_callback_class_is_refused():
    with raises(TypeError, r"fit: callbacks got the class EarlyStopping, not an instance"):
        _compiled().fit(X, Y, verbose=0, callbacks=sl.callbacks.EarlyStopping)


def test_callbacks_holding_a_string_is_refused():
    with raises(TypeError, r"fit: callbacks must be Callback objects .*got str 'early_stopping'"):
        _compiled().fit(X, Y, verbose=0, callbacks=["early_stopping"])


def test_callbacks_given_a_dict_is_refused():
    with raises(TypeError, r"fit: callbacks must be a list of Callback objects, got dict"):
        _compiled().fit(X, Y, verbose=0, callbacks={"es": sl.callbacks.EarlyStopping()})


def test_predict_callbacks_holding_a_function_is_refused():
    with raises(TypeError, r"predict: callbacks must be Callback objects .*got builtin_function_or_method"):
        _compiled().predict(X, verbose=0, callbacks=[print])


def test_evaluate_callbacks_holding_a_string_is_refused():
    with raises(TypeError, r"evaluate: callbacks must be Callback objects"):
        _compiled().evaluate(X, Y, verbose=0, callbacks=["x"])


def test_class_weight_as_a_list_says_use_a_dict():
    with raises(TypeError, r"fit: class_weight must be a dict \{class id: weight\}.*got list \[1.0, 2.0\]\. Write "
                           r"class_weight=dict\(enumerate\(weights\)\)"):
        _compiled(2, "sparse_categorical_crossentropy").fit(X, IDS, verbose=0, class_weight=[1.0, 2.0])


def test_class_weight_keyed_by_label_names_is_refused():
    with raises(TypeError, r"fit: class_weight keys must be class ids \(integers >= 0\), got 'cat'"):
        _compiled(2, "sparse_categorical_crossentropy").fit(X, IDS, verbose=0, class_weight={"cat": 1.0})


def test_class_weight_negative_is_refused():
    with raises(ValueError, r"fit: class_weight\[0\] must be a finite number >= 0, got -1.0"):
        _compiled(2, "sparse_categorical_crossentropy").fit(X, IDS, verbose=0, class_weight={0: -1.0, 1: 1.0})


def test_class_weight_nan_is_refused():
    with raises(ValueError, r"fit: class_weight\[1\] must be a finite number >= 0, got nan"):
        _compiled(2, "sparse_categorical_crossentropy").fit(X, IDS, verbose=0, class_weight={0: 1.0, 1: float("nan")})


def test_class_weight_as_a_string_is_refused():
    with raises(TypeError, r"fit: class_weight must be a dict .*got str 'balanced'"):
        _compiled(2, "sparse_categorical_crossentropy").fit(X, IDS, verbose=0, class_weight="balanced")


def test_validation_split_as_a_string_is_refused():
    with raises(TypeError, r"fit: validation_split must be a number strictly between 0 and 1 \(e.g. 0.2\), got str "
                           r"'0.2'"):
        _compiled().fit(X, Y, verbose=0, validation_split="0.2")


def test_epochs_as_a_string_is_refused():
    with raises(ValueError, r"fit: epochs must be a non-negative integer, got '2'"):
        _compiled().fit(X, Y, verbose=0, epochs="2")


def test_epochs_fractional_is_refused():
    with raises(ValueError, r"fit: epochs must be a non-negative integer, got 2.5"):
        _compiled().fit(X, Y, verbose=0, epochs=2.5)


def test_batch_size_as_a_string_is_refused():
    with raises(ValueError, r"fit: batch_size must be a positive integer, got '2'"):
        _compiled().fit(X, Y, verbose=0, batch_size="2")


def test_verbose_unknown_value_lists_the_valid_ones():
    with raises(ValueError, r"verbose must be 0 \(silent\), 1 \(progress bar\), 2 \(one line per epoch\) or 'auto', got"
                            r" 'x'"):
        _compiled().fit(X, Y, verbose="x")


def test_fit_with_a_single_number_as_data_is_refused():
    with raises(ValueError, r"x: expected an array of samples, got the single number 3"):
        _compiled().fit(3, Y, verbose=0)


def test_loss_weights_as_a_string_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(TypeError, r"compile: loss_weights must be a number or a list / dict of finite numbers .*got 'x'"):
        m.compile(optimizer="adam", loss="mse", loss_weights="x")


def test_loss_weights_nan_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(TypeError, r"compile: loss_weights must be .*finite numbers"):
        m.compile(optimizer="adam", loss="mse", loss_weights=[float("nan")])


def test_loss_weights_list_longer_than_the_outputs_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile(optimizer="adam", loss="mse", loss_weights=[1.0, 2.0])
    with raises(ValueError, r"compile: the model has 1 outputs \(\w+\), but loss_weights is a list of 2"):
        m.fit(X, Y, verbose=0)


def test_optimizer_as_a_number_lists_the_valid_names():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(TypeError, r"compile: optimizer must be a name \(sgd, adam, .*got int"):
        m.compile(optimizer=3, loss="mse")
        m.fit(X, Y, verbose=0)


def test_loss_as_a_number_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(TypeError, r"compile: loss must be a name like 'mse', a Loss object or a function"):
        m.compile(optimizer="adam", loss=3)


def test_metric_as_a_number_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(TypeError, r"compile: a metric must be a name like 'accuracy', a Metric or a function, got int"):
        m.compile(optimizer="adam", loss="mse", metrics=[3])


def test_unknown_compile_keyword_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(TypeError, r"compile: unexpected keyword argument 'lr'"):
        m.compile(optimizer="adam", loss="mse", lr=0.1)


def test_misspelled_fit_keyword_suggests_the_right_one():
    with raises(TypeError, r"fit: unexpected keyword argument 'epoch'\. Did you mean 'epochs'\?"):
        _compiled().fit(X, Y, epoch=2, verbose=0)


# ================================================================ devices
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


@needs_no_cuda
def test_fit_on_cuda_without_cuda_says_use_auto_or_cpu():
    with raises(ValueError, r"fit: device='cuda', but CUDA is not available \(.*\)\. Use device='auto' \(CUDA when "
                            r"available, else CPU\) or device='cpu'"):
        _compiled().fit(X, Y, verbose=0, device="cuda")


@needs_no_cuda
def test_predict_on_cuda_without_cuda_is_refused():
    with raises(ValueError, r"predict: device='cuda:0', but CUDA is not available"):
        _compiled().predict(X, verbose=0, device="cuda:0")


@needs_no_cuda
def test_evaluate_on_a_cuda_torch_device_without_cuda_is_refused():
    with raises(ValueError, r"evaluate: device=device\(type='cuda'\), but CUDA is not available"):
        _compiled().evaluate(X, Y, verbose=0, device=torch.device("cuda"))


@needs_no_cuda
def test_compile_on_cuda_without_cuda_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    with raises(ValueError, r"compile: device='cuda', but CUDA is not available"):
        m.compile(optimizer="adam", loss="mse", device="cuda")


def test_unknown_device_name_lists_the_valid_ones():
    with raises(ValueError, r"fit: unknown device 'gpu'; use 'auto' \(CUDA when available, else CPU\), 'cpu', 'cuda' or"
                            r" 'cuda:N'"):
        _compiled().fit(X, Y, verbose=0, device="gpu")


def test_device_of_the_wrong_type_is_refused():
    with raises(TypeError, r"fit: device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got list"):
        _compiled().fit(X, Y, verbose=0, device=["cpu"])


def test_cuda_device_index_beyond_the_machine_is_refused():
    with raises(ValueError, r"fit: device='cuda:99', but (CUDA is not available|this machine has \d+ CUDA device)"):
        _compiled().fit(X, Y, verbose=0, device="cuda:99")


def test_device_auto_runs_on_what_the_machine_has():
    _compiled().fit(X, Y, verbose=0, device="auto")


# ================================================================ return types of user losses, metrics, shapes
def _fit_with(loss="mse", metrics=None):
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile(optimizer="adam", loss=loss, metrics=metrics)
    return m.fit(X, Y, verbose=0)


def test_custom_loss_returning_none_asks_for_a_return():
    with raises(TypeError, r"loss '<lambda>': expected the function \(y_true, y_pred\) to return a torch tensor .*got "
                           r"NoneType None\. .*and return it"):
        _fit_with(loss=lambda yt, yp: None)


def test_custom_loss_returning_a_numpy_array_asks_for_torch_operations():
    with raises(TypeError, r"loss '<lambda>': .*got a numpy array\. Compute it with torch operations on y_pred \(numpy "
                           r"and Python numbers carry no gradient\)"):
        _fit_with(loss=lambda yt, yp: np.zeros(4))


def test_custom_loss_returning_a_python_number_is_refused():
    with raises(TypeError, r"loss '<lambda>': .*got float 1.0"):
        _fit_with(loss=lambda yt, yp: 1.0)


def test_custom_loss_that_detaches_the_prediction_says_no_gradient_reaches_the_model():
    with raises(ValueError, r"loss '<lambda>': the value returned does not depend on y_pred, so no gradient reaches the"
                            r" model"):
        _fit_with(loss=lambda yt, yp: (yt - yp.detach()).pow(2).mean(-1))


def test_custom_loss_returning_a_constant_tensor_is_refused():
    with raises(ValueError, r"does not depend on y_pred"):
        _fit_with(loss=lambda yt, yp: torch.zeros(4))


def test_custom_metric_returning_none_is_refused():
    with raises(TypeError, r"metric '<lambda>': expected the function \(y_true, y_pred\) to return a torch tensor .*got"
                           r" NoneType"):
        _fit_with(metrics=[lambda yt, yp: None])


def test_custom_metric_returning_a_string_is_refused():
    with raises(TypeError, r"metric '<lambda>': .*got str 'x'"):
        _fit_with(metrics=[lambda yt, yp: "x"])


def test_lambda_output_shape_function_returning_a_number_is_refused():
    with raises(TypeError, r"Lambda 'lambda': output_shape\(\(None, 3\)\) must return a shape tuple with the batch axis"
                           r" first"):
        Sequential([Lambda(lambda v: v, output_shape=lambda s: 3, input_shape=(3,))])


def test_learning_rate_schedule_returning_none_is_refused():
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile(optimizer="adam", loss="mse")
    with raises(ValueError, r"LearningRateScheduler: the schedule must return a number, got NoneType"):
        m.fit(X, Y, verbose=0, callbacks=[sl.callbacks.LearningRateScheduler(lambda epoch, lr=None: None)])


def test_early_stopping_unknown_mode_lists_the_valid_ones():
    with raises(ValueError, r"EarlyStopping: mode must be 'auto', 'min' or 'max', got 'up'"):
        sl.callbacks.EarlyStopping(mode="up")
