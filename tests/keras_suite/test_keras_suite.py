"""Keras's own layer unit tests, run against seqlayers (see adapter.py; the skip list is skips.py)."""
from .adapter import keras_test_classes
from .skips import FILES

for _relpath in FILES:
    globals().update(keras_test_classes(_relpath))
