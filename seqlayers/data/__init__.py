"""Readers for real formats (CoNLL-U, SNIPS-style slot files, dialogue JSONL) and vocabularies."""
from .conllu_reader import TaggedSentence, read_conllu, read_tokenized
from .csv_reader import read_numeric_csv
from .scaling import StandardScaler
from .series import sunspots, sunspots_example
from .sgd_reader import Dialogue, Turn, act_label, act_type, read_dialogues
from .snips_reader import SlotExample, read_snips, read_snips_split
from .vocab import Vocabulary, char_ids, multi_hot, pad_right
from .windows import chronological_splits, windows  # note: seqlayers.data.windows is the function

__all__ = [
    "Dialogue", "SlotExample", "TaggedSentence", "Turn", "Vocabulary", "act_label", "act_type", "char_ids",
    "multi_hot", "pad_right", "read_conllu", "read_dialogues", "read_snips", "read_snips_split",
    "read_tokenized", "read_numeric_csv", "StandardScaler", "sunspots", "sunspots_example", "chronological_splits",
    "windows",
]
