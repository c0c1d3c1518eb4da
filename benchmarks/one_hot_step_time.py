"""Seconds per training step of the one-hot BiLSTM: row lookups vs the notebook's one-hot vectors.

    ./imdb exec python benchmarks/one_hot_step_time.py

Same model, same function (tests/test_models.py), the notebook's sizes: vocabulary 8,000,
600 tokens, BiLSTM(32), batch 32. Prints one line per formulation.
"""

import time, numpy as np
from components.model import models
from components.model.hparams import TrainingConfig
V, T, B = 8000, 600, 32
config = TrainingConfig(variant="one_hot")
ids = np.random.default_rng(0).integers(0, V, size=(B * 4, T)); y = np.random.default_rng(1).integers(0, 2, size=(B * 4, 1)).astype("float32")
for name, build in (("lookup", lambda: models.build_model(config, V, T)), ("notebook", lambda: models.notebook_one_hot_model(config, V, T))):
    m = build(); m.fit(ids[:B], y[:B], batch_size=B, epochs=1, verbose=0)  # compile/trace
    t = time.perf_counter(); m.fit(ids, y, batch_size=B, epochs=1, verbose=0); dt = (time.perf_counter() - t) / 4
    print(f"{name}: {dt:.3f} s per training step of {B} reviews x {T} tokens")
