"""Keras's ``PyDataset`` (``Sequence``): an object whose ``__getitem__(i)`` returns batch ``i``."""
from __future__ import annotations


class PyDataset:
    """Subclass it and define ``__len__`` (batches per epoch) and ``__getitem__(i)`` (returning
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``); ``fit`` reads batches ``0..len-1`` each epoch in
    order and then calls ``on_epoch_end()``. ``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` are accepted for Keras's signature; batches are read in the training process.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__}: define __len__ (the number of batches per epoch).")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: define __getitem__(index) returning batch `index`.")

    def on_epoch_end(self) -> None:
        """Called after each epoch's batches were read (e.g. to reshuffle)."""

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
        self.on_epoch_end()


Sequence = PyDataset  # Keras 2's name, kept by Keras 3

__all__ = ["PyDataset", "Sequence"]
