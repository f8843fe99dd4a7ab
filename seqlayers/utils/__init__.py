"""Bottom-of-the-house helpers, and Keras's ``keras.utils`` names.

* nests of tensors (``map_structure``, ``flatten``), ``to_tensor``, ``snake_case``, ``cpu_model``: ``nest.py``;
* Keras's utilities, with Keras's semantics: ``pad_sequences`` and ``to_categorical`` (``sequence.py``),
  ``set_random_seed`` (``seed.py``), ``timeseries_dataset_from_array`` (``timeseries.py``),
  ``PyDataset`` / ``Sequence`` (``py_dataset.py``), ``plot_model`` (``plot.py``).
"""
from .nest import cpu_model, flatten, map_structure, snake_case, to_tensor
from .plot import plot_model
from .py_dataset import PyDataset, Sequence
from .seed import set_random_seed
from .sequence import pad_sequences, to_categorical
from .timeseries import TimeseriesDataset, timeseries_dataset_from_array

__all__ = [
    "cpu_model", "flatten", "map_structure", "snake_case", "to_tensor",
    "PyDataset", "Sequence", "TimeseriesDataset", "pad_sequences", "plot_model", "set_random_seed",
    "timeseries_dataset_from_array", "to_categorical",
]
