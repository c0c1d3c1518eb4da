"""Milliseconds per training step of the tuned model (ngram_bag) by optimizer and batch size.

    ./imdb exec python -m benchmarks.adam_step_time

The default model's sizes: 200,002 ids x 64-d embeddings, 1,000 ids per review, random ids.
Adam keeps dense moments for the whole embedding table, so each step costs about the same
whatever the batch: this is why the default batch is 256 (docs/measurements.md).
"""

from __future__ import annotations

import time

import numpy as np

from components.model import models
from components.model.hparams import TrainingConfig

VOCABULARY, LENGTH, STEPS = 200_002, 1000, 40


def step_ms(optimizer: str, batch_size: int) -> float:
    rng = np.random.default_rng(0)
    ids = rng.integers(2, VOCABULARY, size=(batch_size * STEPS, LENGTH), dtype=np.int64)
    labels = rng.integers(0, 2, size=(batch_size * STEPS, 1)).astype("float32")
    model = models.build_model(TrainingConfig(variant="ngram_bag", optimizer=optimizer, embedding_dim=64),
                               VOCABULARY, LENGTH)
    model.fit(ids[:batch_size * 2], labels[:batch_size * 2], batch_size=batch_size, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(ids, labels, batch_size=batch_size, epochs=1, verbose=0)
    return (time.perf_counter() - started) / STEPS * 1000


if __name__ == "__main__":
    for optimizer, batch_size in (("adam", 32), ("adam", 256), ("rmsprop", 32)):
        print(f"{optimizer:8} batch {batch_size:4}: {step_ms(optimizer, batch_size):6.0f} ms/step", flush=True)
