"""``keras.optimizers``'s names: a re-export of ``seqlayers.training.optimizers``.

``Adam(learning_rate=...)`` and friends describe a ``torch.optim`` optimizer with Keras's defaults;
``compile`` builds it over the model's parameters.
"""
from ..training.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, KerasOptimizer, Nadam, RMSprop, get
from . import schedules

Optimizer = KerasOptimizer

__all__ = ["schedules", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Nadam", "Optimizer", "RMSprop", "get"]
