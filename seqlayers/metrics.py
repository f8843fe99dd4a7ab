"""``keras.metrics``'s names: a re-export of ``seqlayers.training.metrics``."""
from .training.metrics import (
    Accuracy, F1Score, MeanMetricWrapper, Metric, Precision, Recall, binary_accuracy, categorical_accuracy, get,
    sparse_categorical_accuracy,
)

__all__ = ["Accuracy", "F1Score", "MeanMetricWrapper", "Metric", "Precision", "Recall", "binary_accuracy",
           "categorical_accuracy", "get", "sparse_categorical_accuracy"]
