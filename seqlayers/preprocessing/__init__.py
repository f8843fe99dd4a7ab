"""``keras.preprocessing``'s names: ``sequence.pad_sequences`` and ``timeseries_dataset_from_array``."""
from ..utils import timeseries_dataset_from_array
from . import sequence

__all__ = ["sequence", "timeseries_dataset_from_array"]
