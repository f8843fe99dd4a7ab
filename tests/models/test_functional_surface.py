"""The functional model as Keras exposes it: model.layers (InputLayers included, Keras's order),
model.input / model.output, layer.input / layer.output, get_layer, and the keras-io seq2seq pattern
(inference models rebuilt from a trained model's layers and tensors) against Keras."""
import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")


def seq2seq(K, latent=6, nin=5, nout=4):
    ei = K.Input(shape=(None, nin))
    _, h, c = K.layers.LSTM(latent, return_state=True)(ei)
    di = K.Input(shape=(None, nout))
    do, _, _ = K.layers.LSTM(latent, return_sequences=True, return_state=True)(di, initial_state=[h, c])
    return K.Model([ei, di], K.layers.Dense(nout, activation="softmax")(do))


def two_heads(K):
    a, b = K.Input(shape=(4, 3)), K.Input(shape=(4, 2))
    shared = K.layers.Dense(5)
    h = K.layers.Concatenate()([shared(K.layers.Dense(3)(a)), K.layers.Dense(5)(b)])
    seq = K.layers.LSTM(4, return_sequences=True)(h)
    return K.Model([a, b], [K.layers.Dense(1)(K.layers.LSTM(2)(seq)), K.layers.Dense(2)(seq)])


@pytest.mark.parametrize("build", [seq2seq, two_heads])
def test_model_layers_lists_the_layers_in_keras_order_inputs_included(build):
    ours, ref = build(seqlayers), build(keras)
    assert [type(lyr).__name__ for lyr in ours.layers] == [type(lyr).__name__ for lyr in ref.layers]
    assert ours.get_layer(index=2) is ours.layers[2]
    assert ours.get_layer(name=ours.layers[3].name) is ours.layers[3]


def test_model_and_layer_symbolic_tensors():
    m = seq2seq(seqlayers)
    enc_in, dec_in = m.input
    assert m.layers[0].output is enc_in and m.layers[2].input is enc_in
    out, h, c = m.layers[2].output
    assert h.shape == (None, 6) and m.output.shape == (None, None, 4)
    assert m.layers[3].input[0] is dec_in and m.layers[3].input[1:] == [h, c]  # initial_state counts
    with pytest.raises(AttributeError, match="never been called on a symbolic tensor, so it has no output"):
        seqlayers.Dense(2).output  # noqa: B018
    assert not hasattr(seqlayers.Dense(2), "input")


def inference_models(K, model, latent=6):
    """keras-io's lstm_seq2seq inference set-up, as written there (with K for keras)."""
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
    return encoder_model, decoder_model


def test_seq2seq_inference_models_rebuilt_from_trained_layers_match_keras():
    ours, ref = seq2seq(seqlayers), seq2seq(keras)
    ref.set_weights(ours.get_weights())
    x = np.random.rand(3, 7, 5).astype("float32")
    step = np.eye(4, dtype="float32")[None, [0]].repeat(3, 0)
    (oe, od), (ke, kd) = inference_models(seqlayers, ours), inference_models(keras, ref)
    states, kstates = oe.predict(x, verbose=0), ke.predict(x, verbose=0)
    for a, b in zip(states, kstates):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for _ in range(3):  # greedy decoding, feeding the states back
        out, kout = od.predict([step] + states, verbose=0), kd.predict([step] + kstates, verbose=0)
        for a, b in zip(out, kout):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        step = np.eye(4, dtype="float32")[out[0][:, -1].argmax(-1)][:, None]
        states, kstates = out[1:], kout[1:]
    # the first input of the inference decoder keeps its name; the new Inputs take free ones
    assert len({lyr.name for lyr in od.layers}) == len(od.layers)


def stack(K):
    return K.Sequential([K.Input((5, 2)), K.layers.LSTM(4, return_sequences=True), K.layers.LSTM(3),
                         K.layers.Dense(1)])


def test_sequential_input_output_and_a_feature_model_from_an_inner_layer_match_keras():
    ours, ref = stack(seqlayers), stack(keras)
    ref.set_weights(ours.get_weights())
    x = np.random.rand(3, 5, 2).astype("float32")
    assert ours.output.shape == (None, 1) and ours.input.shape == (None, 5, 2)  # Keras 3.15 (torch) lacks these
    feats = seqlayers.Model(ours.inputs, ours.layers[1].output)
    kfeats = keras.Model(ref.inputs, ref.layers[1].output)
    np.testing.assert_allclose(feats.predict(x, verbose=0), kfeats.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ours.add(seqlayers.layers.Dense(2))  # the graph follows the layers added since
    assert ours.output.shape == (None, 2) and ours.outputs[0] is ours.output
    with pytest.raises(AttributeError, match="no input shape yet, so it has no symbolic input"):
        seqlayers.Sequential([seqlayers.layers.Dense(2)]).input  # noqa: B018
