"""Small real SavedModels with the pipeline's signatures, published the way the Pusher does."""

from __future__ import annotations

import numpy as np
import tensorflow_transform as tft

from components import atomic_pusher, features
from components.model import signatures, trainer
from components.model.hparams import TrainingConfig
from conftest import CORPUS


def export_model(transform_output, export_dir: str, seed: int, epochs: int) -> str:
    """A tiny ngram_bag model on Transform's real output; different seeds give different models."""
    output_dir, transformed = transform_output
    tft_output = tft.TFTransformOutput(output_dir)
    import keras

    keras.utils.set_random_seed(seed)
    model = trainer.build_for_transform(TrainingConfig(variant="ngram_bag", embedding_dim=8, seed=seed), tft_output)
    ids = np.stack([row[features.TOKEN_IDS] for row in transformed])
    labels = np.array([[i % 2] for i in range(len(CORPUS))], dtype="float32")
    if epochs:
        model.fit(ids, labels, epochs=epochs, verbose=0)
    signatures.export(model, tft_output, export_dir)
    return export_dir


def publish(model_dir: str, base_path: str) -> int:
    """Publishes MODEL_DIR as the next version under BASE_PATH, atomically, as the Pusher does."""
    _, version = atomic_pusher.publish_version(model_dir, base_path)
    return int(version)
