"""The layers: core, embedding, reshaping, merging, wrappers, the recurrent cells (cells.py) and layers (rnn.py)."""
from ..serialization import register_layer
from .advanced_activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention
from .base import LAYER_REGISTRY, InputSpec, Layer, get_mask, set_mask
from .batch_folding import FoldIntoBatch, UnfoldFromBatch
from .bidirectional import Bidirectional
from .cells import GRUCell, LSTMCell, SimpleRNNCell
from .convolutional import Conv1D, SeparableConv1D
from .core import Activation, Dense, Dropout, Lambda
from .crf import CRF, bio_transitions
from .embedding import Embedding, Masking
from .instance_normalization import InstanceNormalization, InverseInstanceNormalization
from .merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .multi_head_attention import MultiHeadAttention
from .normalization import BatchNormalization, LayerNormalization
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .position_embedding import PositionEmbedding
from .regularization import GaussianDropout, GaussianNoise, SpatialDropout1D
from .reshaping import Cropping1D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D, ZeroPadding1D
from .rnn import GRU, LSTM, RNN, SimpleRNN
from .stacked_cells import StackedRNNCells
from .wrappers import TimeDistributed, TimeDistributedDense, Wrapper


def __getattr__(name):
    """``layers.Input`` / ``layers.InputLayer`` as in Keras's namespace; they live in
    ``seqlayers.models.symbolic`` (above layers), so they are looked up on first use (PEP 562)."""
    if name in ("Input", "InputLayer"):
        import importlib

        return getattr(importlib.import_module("seqlayers.models.symbolic"), name)
    raise AttributeError(f"module 'seqlayers.layers' has no attribute {name!r}")
