"""Seconds per training step of the one-hot BiLSTM: row lookups vs the notebook's one-hot vectors.

    ./imdb exec python -m benchmarks.one_hot_step_time

Same model, same function (tests/test_models.py), the notebook's sizes: vocabulary 8,000,
600 tokens, BiLSTM(32), batch 32. Prints one line per formulation.
"""

import time

import numpy as np

from components.model import models
from components.model.hparams import TrainingConfig

VOCABULARY, TOKENS, BATCH, STEPS = 8000, 600, 32, 4


def seconds_per_step(model, ids, labels) -> float:
    model.fit(ids[:BATCH], labels[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace and compile
    started = time.perf_counter()
    model.fit(ids, labels, batch_size=BATCH, epochs=1, verbose=0)
    return (time.perf_counter() - started) / STEPS


def main() -> None:
    config = TrainingConfig(variant="one_hot")
    ids = np.random.default_rng(0).integers(0, VOCABULARY, size=(BATCH * STEPS, TOKENS))
    labels = np.random.default_rng(1).integers(0, 2, size=(BATCH * STEPS, 1)).astype("float32")
    for name, build in (("lookup", models.build_model), ("notebook", models.notebook_one_hot_model)):
        seconds = seconds_per_step(build(config, VOCABULARY, TOKENS), ids, labels)
        print(f"{name}: {seconds:.3f} s per training step of {BATCH} reviews x {TOKENS} tokens")


if __name__ == "__main__":
    main()
