"""``keras.metrics``'s names: a re-export of ``seqlayers.training.metrics``."""
from .training.metrics import (
    AUC, Accuracy, BinaryAccuracy, BinaryCrossentropy, CategoricalAccuracy, CategoricalCrossentropy, F1Score, Mean,
    MeanAbsoluteError, MeanMetricWrapper, MeanSquaredError, Metric, Precision, Recall, RootMeanSquaredError,
    SparseCategoricalAccuracy, SparseCategoricalCrossentropy, SparseTopKCategoricalAccuracy, Sum,
    TopKCategoricalAccuracy, binary_accuracy, categorical_accuracy, get, sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy, top_k_categorical_accuracy,
)

__all__ = ["AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy", "CategoricalCrossentropy",
           "F1Score", "Mean", "MeanAbsoluteError", "MeanMetricWrapper", "MeanSquaredError", "Metric", "Precision",
           "Recall", "RootMeanSquaredError", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
           "SparseTopKCategoricalAccuracy", "Sum", "TopKCategoricalAccuracy", "binary_accuracy",
           "categorical_accuracy", "get", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "top_k_categorical_accuracy"]
