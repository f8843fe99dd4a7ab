"""``keras.preprocessing.sequence``: ``pad_sequences`` (see ``seqlayers.utils.sequence``)."""
from ..utils.sequence import pad_sequences

__all__ = ["pad_sequences"]
