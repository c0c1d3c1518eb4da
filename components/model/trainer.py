"""The Trainer's run_fn: train one variant on Transform's output and export it for serving.

Training runs under a tf.distribute strategy chosen from the devices present: every GPU of a GPU
node, the CPU elsewhere. The epoch with the lowest validation loss is exported (fitting.py, which
also fine-tunes pretrained vectors), or, with refit_on_train_and_eval, one retrained on both splits for as many;
nb_bilstm's branches are fitted one by one, then their blend (blending.py).
"""

from __future__ import annotations

import json
import logging
import math
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from common import features
from components.model import blending, fitting, glove, models, signatures
from components.model.hparams import BLENDED_VARIANT, TrainingConfig

HISTORY_FILE = "history.json"


def training_strategy() -> tf.distribute.Strategy:
    """Mirrors over all GPUs when there are several (or over several logical CPUs, the way the
    multi-replica path is tested without GPUs), else runs on the one device there is."""
    devices = [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
    strategy = (tf.distribute.MirroredStrategy(devices) if len(devices) > 1
                else tf.distribute.OneDeviceStrategy(devices[0]))
    logging.info("Training with %s on %s", type(strategy).__name__, ", ".join(devices))
    print(f"Training on {', '.join(devices)} ({type(strategy).__name__})", flush=True)
    return strategy


def trained_on(strategy: tf.distribute.Strategy) -> dict:
    """The devices and strategy that trained, for the model's history and the run's summary."""
    return {"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
            "devices": list(strategy.extended.worker_devices)}


def _dataset(file_pattern, data_accessor, tft_output: tft.TFTransformOutput, batch_size: int,
             shuffle: bool, config: TrainingConfig) -> fitting.Passes:
    files = [f for pattern in file_pattern for f in tf.io.gfile.glob(pattern)]
    examples = int(tf.data.TFRecordDataset(files, compression_type="GZIP").reduce(
        tf.constant(0, tf.int64), lambda count, _: count + 1))
    if not examples:
        raise ValueError(f"no transformed examples in {', '.join(file_pattern)}")
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, label_key=features.LABEL, num_epochs=1,
        shuffle=shuffle, shuffle_buffer_size=config.shuffle_buffer_size, shuffle_seed=config.seed)
    dataset = data_accessor.tf_dataset_factory(file_pattern, options, tft_output.transformed_metadata.schema)
    # Every transformed feature goes in (the label split off): Keras picks the model's Inputs by name.
    dataset = dataset.map(lambda x, y: (x, tf.reshape(tf.cast(y, tf.float32), [-1, 1])),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return fitting.Passes(dataset.repeat().prefetch(tf.data.AUTOTUNE), math.ceil(examples / batch_size))


def _for_training(split: fitting.Passes, config: TrainingConfig, batch_size: int) -> fitting.Passes:
    """A BiLSTM's training batches in length buckets if configured; validation keeps the full padding."""
    if not config.bucket_width:
        return split
    return fitting.Passes(fitting.in_length_buckets(split.dataset, features.TOKEN_IDS, config.bucket_width, batch_size),
                          split.batches)


def tensorboard_logs(model_run_dir: str, phase: str = "") -> keras.callbacks.Callback:
    """Per-epoch losses and metrics in the model_run folder, where TFX and Kubeflow's TensorBoard
    viewer look (`./imdb tensorboard`). No graph: the traced train function shows nothing useful."""
    return keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, phase) if phase else model_run_dir,
                                       write_graph=False, update_freq="epoch")


def build_for_transform(config: TrainingConfig, tft_output: tft.TFTransformOutput) -> keras.Model:
    """The variant sized by what Transform produced (vocabulary; sequence length, none for ragged rows)."""
    words = _decoded(tft_output.vocabulary_by_name(features.VOCABULARY_NAME))
    spec = tft_output.transformed_feature_spec()
    if config.variant == BLENDED_VARIANT:  # the BiLSTM's words: the word_max_tokens most frequent, or all there are
        bag_size = len(words) + features.RESERVED_IDS
        words = _decoded(tft_output.vocabulary_by_name(features.WORD_VOCABULARY_NAME))
        words = words[:config.word_max_tokens - features.RESERVED_IDS]
        return models.build_blended(config, bag_size, len(words) + features.RESERVED_IDS,
                                    spec[features.WORD_IDS].shape[0], _glove_matrix(config, words))
    spec = spec[features.TOKEN_IDS]
    sequence_length = spec.shape[0] if isinstance(spec, tf.io.FixedLenFeature) else None
    return models.build_model(config, len(words) + features.RESERVED_IDS, sequence_length, _glove_matrix(config, words))


def _decoded(vocabulary) -> list:
    return [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t for t in vocabulary]


def _glove_matrix(config: TrainingConfig, words: list):
    return glove.embedding_matrix(words, config.glove_path, config.glove_dim) if config.bilstm == "glove" else None


def _refit(config: TrainingConfig, tft_output: tft.TFTransformOutput, strategy: tf.distribute.Strategy,
           epochs: int, batch_size: int, fn_args: tfx.components.FnArgs):
    """A fresh model trained on train and eval for the epochs the validation loss chose: the eval split
    teaches too (nb_ngrams: test accuracy 0.920 -> 0.922); the test split stays unseen. Returns the
    model and what to record of the refit."""
    print(f"Refitting on the training and eval splits for {epochs} epochs", flush=True)
    both = _for_training(_dataset([*fn_args.train_files, *fn_args.eval_files], fn_args.data_accessor, tft_output,
                                  batch_size, True, config), config, batch_size)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = build_for_transform(config, tft_output)
    timer = fitting.EpochTimer()
    history = fitting.fit(model, both.dataset, epochs, [timer, tensorboard_logs(fn_args.model_run_dir, "refit")],
                          steps_per_epoch=both.batches)
    return model, {"refit_epochs": epochs, "refit_epoch_seconds": timer.seconds,
                   "refit_loss": [float(v) for v in history.history["loss"]]}


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = TrainingConfig.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(config.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    strategy = training_strategy()
    batch_size = config.batch_size * strategy.num_replicas_in_sync

    def splits_at(global_batch_size: int):
        return (_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, global_batch_size, True, config),
                _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, global_batch_size, False, config))

    with strategy.scope():
        model = build_for_transform(config, tft_output)
    model.summary(print_fn=logging.info)

    branches = {}
    if config.variant == BLENDED_VARIANT:
        fitted, branches = blending.fit(model, config, splits_at, strategy,
                                        lambda branch: tensorboard_logs(fn_args.model_run_dir, branch))
    else:
        train, evaluation = splits_at(batch_size)
        train = _for_training(train, config, batch_size)
        fitted = fitting.fit_keeping_best(model, config, train.dataset, evaluation.dataset, strategy,
                                          callbacks=[tensorboard_logs(fn_args.model_run_dir)],
                                          steps_per_epoch=train.batches, validation_steps=evaluation.batches)
    logging.info("Keeping epoch %d of %d (val_loss %.4f)", fitted.best_epoch, len(fitted.epoch_seconds),
                 fitted.history["val_loss"][fitted.best_epoch - 1])
    refit = {}
    if config.refit_on_train_and_eval:
        model, refit = _refit(config, tft_output, strategy, fitted.best_epoch, batch_size, fn_args)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as out:
        json.dump({"config": config.to_custom_config(), **trained_on(strategy), "global_batch_size": batch_size,
                   **fitted.record(), **fitted.history, **refit, **branches}, out, indent=1)
    signatures.export(model, tft_output, fn_args.serving_model_dir)
