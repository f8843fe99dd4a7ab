"""seqlayers: Keras's sequence-modeling vocabulary, native to PyTorch.

Every layer is a ``torch.nn.Module`` working batch-first on ``(B, T, F)`` with Keras semantics.

Examples:
    >>> import torch
    >>> from seqlayers import Sequential, LSTM, TimeDistributed, Dense
    >>> model = Sequential([LSTM(5, input_shape=(5, 1), return_sequences=True), TimeDistributed(Dense(1))])
    >>> model(torch.zeros(2, 5, 1)).shape
    torch.Size([2, 5, 1])
    >>> model.count_params()
    146
"""
# Keras's namespaces (keras.callbacks, keras.utils, ...): thin re-export modules over the layout above
from . import (
    activations,
    backend,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    preprocessing,
    regularizers,
    saving,
    training,
    utils,
)
from .errors import ModelFileError, SeqlayersError
from .io import export_onnx, from_keras, load_model, register_function, to_keras
from .layers import (
    CRF,
    ELU,
    GRU,
    LSTM,
    RNN,
    Activation,
    Add,
    AdditiveAttention,
    Attention,
    Average,
    AveragePooling1D,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Conv1D,
    Cropping1D,
    Dense,
    Dot,
    Dropout,
    Embedding,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    GRUCell,
    InputSpec,
    Lambda,
    Layer,
    LayerNormalization,
    LeakyReLU,
    LSTMCell,
    Masking,
    Maximum,
    MaxPooling1D,
    Minimum,
    MultiHeadAttention,
    Multiply,
    Permute,
    PReLU,
    ReLU,
    RepeatVector,
    Reshape,
    SeparableConv1D,
    SimpleRNN,
    SimpleRNNCell,
    Softmax,
    SpatialDropout1D,
    StackedRNNCells,
    Subtract,
    TimeDistributed,
    TimeDistributedDense,
    UpSampling1D,
    Wrapper,
    ZeroPadding1D,
    add,
    average,
    bio_transitions,
    concatenate,
    dot,
    get_mask,
    maximum,
    minimum,
    multiply,
    register_layer,
    subtract,
)
from .models import Model, Sequential
from .models.streaming import Stream
from .models.symbolic import Input, InputLayer, SymbolicTensor
from .training import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
    pad_ragged,
    set_seed,
)
from .utils import pad_sequences, set_random_seed, to_categorical
from .version import __version__

__all__ = [
    "Activation", "Add", "Concatenate", "Dense", "Dropout", "Embedding", "Flatten", "Input", "InputLayer",
    "InputSpec", "Lambda", "Layer", "Masking", "Model", "ModelFileError", "RepeatVector", "Reshape",
    "SeqlayersError", "Sequential", "Stream", "SymbolicTensor", "TimeDistributed", "TimeDistributedDense", "Wrapper",
    "activations", "get_mask", "initializers", "register_layer",
    "AdditiveAttention", "Attention",
    "Average", "Dot", "Maximum", "Minimum", "Multiply", "Subtract", "add", "average", "concatenate", "dot",
    "maximum", "minimum", "multiply", "subtract",
    "AveragePooling1D", "Conv1D", "Cropping1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D",
    "Permute", "SeparableConv1D", "UpSampling1D", "ZeroPadding1D",
    "BatchNormalization", "ELU", "GaussianDropout", "GaussianNoise", "LayerNormalization", "LeakyReLU",
    "MultiHeadAttention", "PReLU", "ReLU", "Softmax", "SpatialDropout1D",
    "CRF", "bio_transitions",
    "Bidirectional", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "SimpleRNN", "SimpleRNNCell", "StackedRNNCells",
    "export_onnx", "from_keras", "load_model", "register_function", "to_keras",
    "BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN", "callbacks",
    "losses",
    "metrics", "optimizers", "pad_ragged", "pad_sequences", "set_random_seed", "set_seed", "to_categorical",
    "training", "backend", "layers", "models", "ops", "preprocessing", "saving", "utils",
]
