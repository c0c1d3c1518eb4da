"""The notebook's way of training, for comparison: plain Keras on the extracted review files.

`text_dataset_from_directory` (20% of aclImdb/train held out for validation), a
`TextVectorization` layer adapted on the training text and mapped over the datasets, and
`model.fit` with the best epoch kept by validation loss; the model is the project's own
(components/model/models.py), so only the way of getting data into it differs from the pipeline.

Run as a separate process by benchmarks/full_data.py, so that its peak memory is its own:

    python -m benchmarks.notebook_keras --data PATH --config '{"variant": "embedding", "epochs": 10}' \
        --max-tokens 8000 --sequence-length 600 --out result.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tarfile
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from components import features  # noqa: E402
from components.imdb_example_gen import layout  # noqa: E402
from components.model import glove, models  # noqa: E402
from components.model.hparams import TrainingConfig  # noqa: E402
from components.model.trainer import EpochTimer  # noqa: E402
from pipeline import atomic_files  # noqa: E402

VALIDATION_SPLIT = 0.2
SEED = 1337
CLASS_NAMES = ["neg", "pos"]  # leaves out aclImdb/train/unsup, as the notebook's `rm -r` did


def extracted_root(data_path: str, scratch: str) -> tuple:
    """The aclImdb folder, extracting an archive into SCRATCH first; (root, seconds spent extracting)."""
    started = time.perf_counter()
    kind, root = layout.find_root(data_path)
    if kind == "archive":
        with tarfile.open(data_path) as archive:
            members = [m for m in archive if layout.ARCHIVE_MEMBER.match(m.name)]
            archive.extractall(scratch, members=members, filter="data")
        _, root = layout.find_root(scratch)
    return root, time.perf_counter() - started


def train(root: str, config: TrainingConfig, max_tokens: int, sequence_length: int, ngrams: int) -> dict:
    timings = {}
    started = time.perf_counter()
    train_ds, val_ds = keras.utils.text_dataset_from_directory(
        os.path.join(root, "train"), batch_size=config.batch_size, class_names=CLASS_NAMES,
        validation_split=VALIDATION_SPLIT, subset="both", seed=SEED)
    test_ds = keras.utils.text_dataset_from_directory(
        os.path.join(root, "test"), batch_size=config.batch_size, class_names=CLASS_NAMES)
    timings["list_files"] = time.perf_counter() - started

    started = time.perf_counter()
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_mode="int", output_sequence_length=sequence_length,
        ngrams=ngrams if ngrams > 1 else None)
    vectorizer.adapt(train_ds.map(lambda x, y: x))
    timings["adapt"] = time.perf_counter() - started

    def vectorized(ds):
        return ds.map(lambda x, y: (vectorizer(x), tf.reshape(tf.cast(y, tf.float32), [-1, 1])),
                      num_parallel_calls=4)

    # One pass vectorizing all 50,000 reviews: the work ExampleGen + Transform do in the pipeline.
    started = time.perf_counter()
    counts = {}
    for name, ds in (("train", train_ds), ("eval", val_ds), ("test", test_ds)):
        counts[name] = sum(int(tf.shape(y)[0]) for _, y in vectorized(ds))
    timings["vectorize_all"] = time.perf_counter() - started

    vocabulary = vectorizer.get_vocabulary()
    matrix = (glove.embedding_matrix(vocabulary[features.RESERVED_IDS:], config.glove_path, config.glove_dim)
              if config.variant == "glove" else None)
    keras.utils.set_random_seed(config.seed)
    model = models.build_model(config, len(vocabulary), sequence_length, matrix)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as scratch:
        best = os.path.join(scratch, "best.weights.h5")
        callbacks = [timer, keras.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True,
                                                            save_weights_only=True)]
        if config.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss",
                                                           patience=config.early_stopping_patience))
        history = model.fit(vectorized(train_ds), validation_data=vectorized(val_ds),
                            epochs=config.epochs, callbacks=callbacks, verbose=2)
        model.load_weights(best)
    started = time.perf_counter()
    _, test_accuracy = model.evaluate(vectorized(test_ds), verbose=0)
    timings["evaluate"] = time.perf_counter() - started

    val_loss = history.history["val_loss"]
    return {
        "examples": counts,
        "test_accuracy": float(test_accuracy),
        "best_epoch": 1 + val_loss.index(min(val_loss)),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "epoch_seconds": timer.seconds,
        "train_examples_per_second": counts["train"] / statistics.median(timer.seconds),
        "seconds": timings,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="aclImdb folder or its .tar.gz")
    p.add_argument("--config", required=True, help="TrainingConfig as JSON")
    p.add_argument("--max-tokens", type=int, required=True)
    p.add_argument("--sequence-length", type=int, required=True)
    p.add_argument("--ngrams", type=int, default=1)
    p.add_argument("--out", required=True, help="where to write the results (JSON)")
    args = p.parse_args(argv)
    config = TrainingConfig.from_custom_config(json.loads(args.config))
    with tempfile.TemporaryDirectory(prefix="aclImdb-") as scratch:
        root, extract_seconds = extracted_root(args.data, scratch)
        result = train(root, config, args.max_tokens, args.sequence_length, args.ngrams)
    result["seconds"]["extract"] = extract_seconds
    result["seconds"]["preprocessing"] = sum(result["seconds"][k] for k in ("list_files", "adapt", "vectorize_all"))
    result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    atomic_files.write_text(args.out, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
