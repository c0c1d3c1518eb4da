"""How a model is fitted and which epoch is kept, shared by the Trainer and the plain-Keras benchmark
(benchmarks/notebook_keras.py), so that the two differ only in how data reaches the model.

The epoch with the lowest validation loss is kept, as the notebook's ModelCheckpoint(save_best_only=True)
did. Pretrained vectors can then be fine-tuned from the best frozen epoch, `fine_tune_epochs` more at a
lower learning rate, the best epoch chosen over both phases (fine-tuning is kept only if it helps).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence

import keras
import tensorflow as tf

from components.model import models
from components.model.hparams import TrainingConfig


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds per epoch (validation included), so runs can be compared by examples per second."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)


@dataclasses.dataclass(frozen=True)
class Passes:
    """A split read over and over by one iterator, and the batches of one pass: over a finite dataset
    Keras makes an iterator per epoch, and tearing one down waits for its autotuning thread's next
    wake-up (BiLSTM runs idled 40-100 s between epochs, docs/measurements.md). Each pass is the whole split."""

    dataset: tf.data.Dataset
    batches: int


@dataclasses.dataclass
class Fitted:
    """What the fit did: per-epoch metrics (fine-tuning epochs after the frozen ones) and times."""

    history: Dict[str, List[float]]
    epoch_seconds: List[float]
    best_epoch: int  # 1-based, over both phases
    frozen_epochs: int  # epochs run before fine-tuning began (all of them without fine-tuning)
    frozen_best: Any = None  # what inspect_frozen_best returned, if given and fine-tuning ran

    def record(self) -> dict:
        """The fields history.json and the benchmark's results carry beside the metrics."""
        fine_tuned = len(self.epoch_seconds) > self.frozen_epochs
        return {"best_epoch": self.best_epoch, "epoch_seconds": self.epoch_seconds,
                **({"fine_tune_from_epoch": self.frozen_epochs + 1} if fine_tuned else {})}


def in_length_buckets(batches: tf.data.Dataset, feature: str, width: int, batch_size: int) -> tf.data.Dataset:
    """BATCHES (of a repeated split, FEATURE padded at the end to the sequence length) regrouped into
    batches of reviews of like length, each padded only to the next multiple of WIDTH: an LSTM pays as
    much for a step of padding as for a word, and the median training review is 173 of 600 tokens, so at width 50
    an epoch runs 0.41 of the steps (docs/benchmarks.md). Only a model that masks padding computes the
    same for a review either way (hparams.TrainingConfig.masks_padding). Batches stay BATCH_SIZE reviews
    and in the shuffled stream's order within a bucket; as many steps make an epoch. Other features must
    be dense and are carried along."""
    spec = batches.element_spec[0][feature]
    length = spec.shape[-1] if isinstance(spec, tf.TensorSpec) else None
    if length is None:
        raise ValueError(f"length buckets need {feature} padded to a fixed length, not {spec}")
    bounds = [*range(width, length, width), length]

    def trimmed(x, y):
        ids = x[feature]  # padding (id 0) only at the end: the count of the others is the review's length
        return {**x, feature: ids[:tf.math.count_nonzero(ids, dtype=tf.int32)]}, y

    return (batches.unbatch().map(trimmed, num_parallel_calls=tf.data.AUTOTUNE)
            .bucket_by_sequence_length(lambda x, y: tf.shape(x[feature])[0], [bound + 1 for bound in bounds],
                                       [batch_size] * (len(bounds) + 1), pad_to_bucket_boundary=True)
            .prefetch(tf.data.AUTOTUNE))


def fit(model: keras.Model, data: tf.data.Dataset, epochs: int, callbacks: list, **kwargs):
    with warnings.catch_warnings():
        # Expected here: over datasets of unknown length, "ran out of data"; shuffle= ignored (tfxio's).
        warnings.filterwarnings("ignore", message=".*(ran out of data|shuffle=True).*")
        return model.fit(data, epochs=epochs, callbacks=callbacks, verbose=2, **kwargs)


def fit_keeping_best(model: keras.Model, config: TrainingConfig, train: tf.data.Dataset, validation: tf.data.Dataset,
                     strategy: Optional[tf.distribute.Strategy] = None,
                     inspect_frozen_best: Optional[Callable[[keras.Model], Any]] = None,
                     callbacks: Sequence[keras.callbacks.Callback] = (), **fit_options) -> Fitted:
    """Trains config.epochs (and config.fine_tune_epochs), leaves the best epoch's weights in MODEL.
    STRATEGY, the model's, is where fine-tuning's optimizer variables are made. INSPECT_FROZEN_BEST sees
    the model before fine-tuning (for the benchmark). FIT_OPTIONS and CALLBACKS go to every model.fit."""
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as scratch:
        best_weights = os.path.join(scratch, "best.weights.h5")
        # One checkpoint callback for both phases: it remembers the best validation loss across fits.
        checkpoint = keras.callbacks.ModelCheckpoint(best_weights, monitor="val_loss", save_best_only=True,
                                                     save_weights_only=True)
        callbacks = [timer, checkpoint, *callbacks]
        if config.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss",
                                                           patience=config.early_stopping_patience))
        history = {k: [float(x) for x in v] for k, v in fit(model, train, config.epochs, callbacks,
                                                            validation_data=validation, **fit_options).history.items()}
        frozen_epochs = len(history["loss"])
        frozen_best = None
        if config.fine_tune_epochs:
            model.load_weights(best_weights)  # fine-tune from the best frozen epoch
            frozen_best = inspect_frozen_best(model) if inspect_frozen_best else None
            with strategy.scope() if strategy else contextlib.nullcontext():
                models.unfreeze_pretrained(model, config)
            print(f"Fine-tuning the pretrained embeddings for {config.fine_tune_epochs} epochs "
                  f"(learning rate {config.fine_tune_learning_rate})", flush=True)
            more = fit(model, train, frozen_epochs + config.fine_tune_epochs, callbacks,
                       validation_data=validation, initial_epoch=frozen_epochs, **fit_options)
            for name, values in more.history.items():
                history.setdefault(name, []).extend(float(v) for v in values)
        model.load_weights(best_weights)
    best_epoch = 1 + min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
    return Fitted(history, timer.seconds, best_epoch, frozen_epochs, frozen_best)
