"""Evaluation helpers the chapter's notebooks define inline: accuracy, regression errors, a confusion matrix."""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.log import logger


def _int_labels(labels: ndarray) -> ndarray:
    labels = np.asarray(labels)
    return labels.argmax(axis=1) if labels.ndim == 2 else labels


def accuracy(predictions: ndarray, labels: ndarray) -> float:
    """Fraction of predicted classes equal to the labels (both class indices)."""
    return float(np.mean(np.asarray(predictions).squeeze() == np.asarray(labels).squeeze()))


def calc_accuracy_model(model, test_set: ndarray, labels: ndarray, batch_size: int = 1000) -> float:
    """Test accuracy in percent of ``model`` on ``test_set``; ``labels`` are class indices or one-hot.

    The notebook printed ``The model validation accuracy is: ...``; this logs it and returns the number.
    """
    labels = _int_labels(labels)
    if len(labels) != len(test_set):
        raise ValueError(f"{len(test_set)} test examples but {len(labels)} labels")
    predicted = np.argmax(model.predict(test_set, batch_size), axis=1)
    acc = 100.0 * float(np.mean(predicted == labels))
    logger.info("The model validation accuracy is: \n    %.2f%%", acc)
    return acc


def confusion_matrix(labels: ndarray, predicted: ndarray, n_classes: int = 10) -> ndarray:
    """``m[true, predicted]`` counts, (n_classes, n_classes) int64."""
    labels, predicted = _int_labels(labels), _int_labels(predicted)
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m


def mae(y_true: ndarray, y_pred: ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true: ndarray, y_pred: ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean(np.power(y_true - y_pred, 2))))


def eval_regression_model(model, X_test: ndarray, y_test: ndarray) -> tuple[float, float]:
    """Log (and return) the MAE and RMSE of a regression model's predictions."""
    preds = model.forward(X_test, inference=True).reshape(-1, 1)
    errors = mae(preds, y_test), rmse(preds, y_test)
    logger.info("Mean absolute error: %.2f", errors[0])
    logger.info("Root mean squared error %.2f", errors[1])
    return errors


__all__ = ["accuracy", "calc_accuracy_model", "confusion_matrix", "mae", "rmse", "eval_regression_model"]
