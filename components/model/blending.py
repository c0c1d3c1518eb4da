"""How nb_bilstm trains: each branch as it would alone, then the blend of their logits on the eval split.

Trained as one model, the n-gram bag separates the training reviews within an epoch or two and leaves
the BiLSTM next to no gradient. So, the way Mesnil et al. (2014) combine NBSVM with sequence models,
each branch is fitted alone with its own settings (nb_ngrams' for the bag, the variant's for the
BiLSTM), its epoch of lowest validation loss kept; then the blend, a weight for each branch's logit
and a bias, by logistic regression on the eval split: reviews neither branch's weights were fitted on.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import keras
import numpy as np
import tensorflow as tf

from common import features
from components.model import fitting, models
from components.model.hparams import TrainingConfig


# A global batch size -> the training and eval splits in batches of it.
SplitsAt = Callable[[int], Tuple[fitting.Passes, fitting.Passes]]


def fit_logistic(logits: np.ndarray, labels: np.ndarray, ridge: float = 1.0,
                 iterations: int = 50) -> Tuple[np.ndarray, float]:
    """Logistic regression of LABELS (0/1) on the columns of LOGITS: a weight per column and a bias, by
    Newton's method (exact in a few steps for so few parameters). RIDGE, an L2 penalty on the weights
    (not the bias), keeps them finite should one branch separate the split outright."""
    x = np.hstack([np.asarray(logits, np.float64), np.ones((len(logits), 1))])
    y = np.asarray(labels, np.float64).reshape(-1)
    penalty = np.diag([ridge] * (x.shape[1] - 1) + [0.0])
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ w)))  # the sigmoid, without overflow
        gradient = x.T @ (p - y) + penalty @ w
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return w[:-1], float(w[-1])


def _inputs_of(model: keras.Model, split: fitting.Passes) -> tf.data.Dataset:
    """The split's batches with only the features MODEL reads (the dataset carries both branches')."""
    names = list(model.input)
    return split.dataset.map(lambda x, y: ({name: x[name] for name in names}, y))


def _logits_and_labels(logits: keras.Model, split: fitting.Passes) -> Tuple[np.ndarray, np.ndarray]:
    """One pass over the split: each review's branch logits, and its label, in one order."""
    values, labels = [], []
    for x, y in _inputs_of(logits, split).take(split.batches):
        values.append(np.asarray(logits.predict_on_batch(x)))
        labels.append(y.numpy())
    return np.concatenate(values), np.concatenate(labels).reshape(-1)


def fit(model: keras.Model, config: TrainingConfig, splits_at: SplitsAt, strategy: tf.distribute.Strategy,
        tensorboard: Callable[[str], keras.callbacks.Callback]) -> Tuple[fitting.Fitted, Dict]:
    """Fits MODEL (models.build_blended) in place: the bag, the BiLSTM, then the blend. Returns the BiLSTM's
    fit (its epochs are the variant's) and the record of the rest: the bag's fit, the blend's weights, and
    each branch's and the blend's accuracy on the eval split."""
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        bag, bilstm, logits = models.blend_branches(model, config)

    fitted, evaluation = {}, None
    for name, branch, branch_config in (("bag", bag, config.bag), ("bilstm", bilstm, config)):
        print(f"Training the {name} branch: {branch_config.epochs} epochs at most", flush=True)
        train, evaluation = splits_at(branch_config.batch_size * replicas)
        train_batches = _inputs_of(branch, train)
        if branch_config.bucket_width:  # the BiLSTM's words, dense once the bag's ragged features are left out
            train_batches = fitting.in_length_buckets(train_batches, features.WORD_IDS, branch_config.bucket_width,
                                                      branch_config.batch_size * replicas)
        fitted[name] = fitting.fit_keeping_best(
            branch, branch_config, train_batches, _inputs_of(branch, evaluation), strategy,
            callbacks=[tensorboard(name)], steps_per_epoch=train.batches, validation_steps=evaluation.batches)

    branch_logits, labels = _logits_and_labels(logits, evaluation)  # in the BiLSTM's batches
    weights, bias = fit_logistic(branch_logits, labels)
    model.get_layer(models.BLEND).set_weights([weights.reshape(-1, 1).astype(np.float32),
                                               np.array([bias], np.float32)])
    blended = branch_logits @ weights + bias
    accuracy = {name: float(np.mean((column > 0) == (labels > 0.5)))
                for name, column in (("bag", branch_logits[:, 0]), ("bilstm", branch_logits[:, 1]), ("blend", blended))}
    print("Blend fitted on the eval split: " + ", ".join(f"{n} accuracy {a:.4f}" for n, a in accuracy.items()),
          flush=True)
    bag_fit = fitted["bag"]
    return fitted["bilstm"], {
        "bag": {**bag_fit.record(), **bag_fit.history},
        "blend": {"weights": weights.tolist(), "bias": bias, "eval_accuracy": accuracy}}
