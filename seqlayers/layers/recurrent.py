"""The recurrent layers and cells, under their old module name (``rnn.py`` and ``cells.py`` hold them)."""
from .cells import GRUCell, LSTMCell, SimpleRNNCell
from .rnn import GRU, LSTM, RNN, SimpleRNN

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "SimpleRNN", "SimpleRNNCell"]
