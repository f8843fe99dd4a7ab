"""model.topology(): the five shapes, read from time axes in the layer graph (not from class names)."""
import pytest
import torch

from seqlayers import (
    Dense,
    Embedding,
    Flatten,
    Input,
    Lambda,
    Masking,
    Model,
    RepeatVector,
    Reshape,
    Sequential,
    TimeDistributed,
)
from seqlayers import topologies as T
from seqlayers.layers.recurrent import GRU, LSTM, SimpleRNN
from seqlayers.models.topology import (
    ENCODER_DECODER,
    MANY_TO_MANY,
    MANY_TO_ONE,
    ONE_TO_MANY,
    ONE_TO_ONE,
    Topology,
    detect_all,
)


@pytest.mark.parametrize("build, kind, n_in, n_out", [
    (lambda: T.one_to_one(3, 2), ONE_TO_ONE, 1, 1),
    (lambda: T.one_to_one(3, 2, units=4), ONE_TO_ONE, 1, 1),
    (lambda: T.one_to_many(3, 4, 1, units=5), ONE_TO_MANY, 1, 4),
    (lambda: T.many_to_one(5, 1, 1, units=5), MANY_TO_ONE, 5, 1),
    (lambda: T.many_to_one(None, 2, 3, units=4, cell="gru"), MANY_TO_ONE, None, 1),
    (lambda: T.many_to_many(5, 1, 1, units=5), MANY_TO_MANY, 5, 5),
    (lambda: T.many_to_many(None, 1, 1, units=5, cell="simple_rnn"), MANY_TO_MANY, None, None),
    (lambda: T.last_n_steps(6, 1, 3, 1, units=4), ENCODER_DECODER, 6, 3),
    (lambda: T.encoder_decoder_repeat(6, 1, 3, 1, units=4), ENCODER_DECODER, 6, 3),
    (lambda: T.encoder_decoder(3, 5, units=8).model, ENCODER_DECODER, None, None),
    (lambda: T.encoder_decoder(3, 5, units=8, n_steps=7, attention="dot").model, ENCODER_DECODER, 7, None),
])
def test_every_builder_is_detected_as_its_topology(build, kind, n_in, n_out):
    topo = build().topology()
    assert (topo.kind, topo.input_steps, topo.output_steps) == (kind, n_in, n_out)


def test_str_names_the_kind_the_step_counts_and_the_layer_that_makes_the_difference():
    assert str(T.many_to_one(5, 1, 1, units=5).topology()) == \
        "many-to-one: 5 input steps -> one output (via LSTM 'lstm')"
    assert str(T.many_to_many(5, 1, 1, units=5).topology()) == \
        "many-to-many (aligned): 5 input steps -> 5 output steps"
    assert str(T.one_to_many(3, 4, 1).topology()) == \
        "one-to-many: one input -> 4 output steps (via RepeatVector 'repeat_vector')"
    assert str(T.last_n_steps(6, 1, 3, 1).topology()) == \
        "many-to-many (different lengths): 6 input steps -> 3 output steps (via Lambda 'last_steps')"
    assert "teacher forcing" in str(T.encoder_decoder(3, 5, units=4).model.topology())


def test_topology_is_a_small_frozen_dataclass_with_the_builder_name():
    topo = T.many_to_many(5, 1, 1).topology()
    assert topo == Topology(MANY_TO_MANY, 5, 5)
    assert topo.name == "many_to_many" and topo.sequence_in and topo.sequence_out
    with pytest.raises(AttributeError):  # frozen (dataclasses.FrozenInstanceError)
        topo.kind = "x"


# ------------------------------------------------------------------ derived from shapes, not class names
def test_core_layers_only_time_distributed_on_a_sequence_is_aligned():
    model = Sequential([TimeDistributed(Dense(2), input_shape=(7, 3))])
    assert model.topology() == Topology(MANY_TO_MANY, 7, 7)


def test_dense_on_a_sequence_keeps_the_time_axis_like_time_distributed():
    model = Sequential([Dense(4, input_shape=(7, 3)), Dense(1)])
    assert model.topology().kind == MANY_TO_MANY


def test_flatten_ends_the_time_axis_so_the_model_is_many_to_one():
    model = Sequential([Dense(4, input_shape=(7, 3)), Flatten(), Dense(1)])
    topo = model.topology()
    assert topo.kind == MANY_TO_ONE and topo.via == "Flatten 'flatten'"


def test_reshape_of_a_vector_into_steps_creates_a_time_axis():
    model = Sequential([Dense(6, input_shape=(4,)), Reshape((3, 2)), LSTM(2, return_sequences=True)])
    assert model.topology() == Topology(ONE_TO_MANY, 1, 3, "Reshape 'reshape'")


def test_a_lambda_that_keeps_the_length_keeps_the_alignment():
    model = Sequential([LSTM(3, input_shape=(5, 2), return_sequences=True), Lambda(lambda x: x * 2)])
    assert model.topology().kind == MANY_TO_MANY


def test_a_time_axis_of_one_step_is_one_to_one_as_in_the_tutorial():
    model = Sequential([LSTM(5, input_shape=(1, 1)), Dense(1)])  # seed 003, part 1
    assert model.topology() == Topology(ONE_TO_ONE, 1, 1)


def test_embedding_ids_carry_the_time_axis():
    model = Sequential([Embedding(50, 8, mask_zero=True, input_shape=(None,)), LSTM(4)])
    assert model.topology() == Topology(MANY_TO_ONE, None, 1, "LSTM 'lstm'")
    x = Input(shape=(12,), dtype="int64")
    tags = TimeDistributed(Dense(3))(LSTM(4, return_sequences=True)(Embedding(50, 8)(x)))
    assert Model(x, tags).topology() == Topology(MANY_TO_MANY, 12, 12)


def test_a_plain_torch_module_that_drops_the_time_axis_is_read_from_its_shapes():
    class Last(torch.nn.Module):  # a plain module: only its shapes are known
        def forward(self, x):
            return x[:, -1]

    model = Sequential([Masking(input_shape=(6, 2)), Last(), Dense(1)])
    assert model.topology().kind == MANY_TO_ONE


def test_one_output_per_head_in_a_multi_output_model():
    x = Input(shape=(None,), dtype="int64")
    h = GRU(6, return_sequences=True)(Embedding(30, 4, mask_zero=True)(x))
    tags = TimeDistributed(Dense(5, activation="softmax"))(h)
    intent = Dense(3, activation="softmax")(SimpleRNN(4)(h))
    model = Model(x, [tags, intent])
    kinds = [t.kind for t in detect_all(model)]
    assert kinds == [MANY_TO_MANY, MANY_TO_ONE]
    assert model.topology().kind == MANY_TO_MANY


def test_encoder_states_as_initial_state_with_a_repeat_vector_decoder_input():
    enc_in = Input(shape=(9, 2))
    _, h, c = LSTM(8, return_state=True)(enc_in)
    dec = LSTM(8, return_sequences=True)(RepeatVector(4)(h), initial_state=[h, c])
    model = Model(enc_in, TimeDistributed(Dense(1))(dec))
    assert model.topology() == Topology(ENCODER_DECODER, 9, 4, "RepeatVector 'repeat_vector'")


# ------------------------------------------------------------------ errors that teach
def test_an_unbuilt_sequential_says_how_to_give_the_shapes():
    with pytest.raises(ValueError, match=r"not built yet\. Give the first layer input_shape"):
        Sequential([LSTM(4), Dense(1)]).topology()


def test_a_subclassed_model_is_refused_with_the_reason():
    class Net(Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed model's call"):
        Net().topology()


def test_bidirectional_and_a_time_distributed_recurrent_layer_are_read_through_their_wrappers():
    from seqlayers import Bidirectional

    model = Sequential([Embedding(30, 4, mask_zero=True, input_shape=(None,)),
                        Bidirectional(LSTM(3, return_sequences=True)), Bidirectional(LSTM(2)), Dense(1)])
    assert model.topology() == Topology(MANY_TO_ONE, None, 1, "Bidirectional 'bidirectional_1'")
    x = Input(shape=(5, 7, 3))  # 5 turns of 7 words: an LSTM per turn keeps the turn axis
    per_turn = TimeDistributed(LSTM(4))(x)
    assert Model(x, per_turn).topology() == Topology(MANY_TO_MANY, 5, 5)
    assert Model(x, LSTM(2)(per_turn)).topology().kind == MANY_TO_ONE
