"""The recurrent layers and cells, under their old module name (``rnn.py`` and ``cells.py`` hold them)."""
from .cells import GRUCell, LSTMCell, SimpleRNNCell
from .rnn import GRU, LSTM, RNN, SimpleRNN

__all__ = ["RNN", "SimpleRNN", "GRU", "LSTM", "SimpleRNNCell", "GRUCell", "LSTMCell"]
