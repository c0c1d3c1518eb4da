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

import json
import os
import statistics
import tarfile
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import peak_memory, report  # noqa: E402
from common import atomic_files, features  # noqa: E402
from components.imdb_example_gen import layout  # noqa: E402
from components.model import fitting, glove, models  # noqa: E402
from components.model.hparams import TrainingConfig  # noqa: E402

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


def _distinct_known(ids: tf.RaggedTensor) -> tf.RaggedTensor:
    """Each review's distinct known ids, most frequent first: the pipeline's rule
    (naive_bayes_bag.unique_known_ids) on TextVectorization's ids, whose 0 and 1 pad and mark OOV."""
    from components import naive_bayes_bag

    indices = ids.flat_values - features.RESERVED_IDS  # packed as the pipeline's lookup packs them: index, no ratio
    packed = tf.where(indices >= 0, tf.bitwise.left_shift(indices, 32), -1)
    known, _ = naive_bayes_bag.unique_known_ids(ids.value_rowids(), packed, ids.nrows())
    return known + features.RESERVED_IDS


def naive_bayes_features(vectorizer, train_ds, vocabulary_size: int, sequence_length: int):
    """The nb_ngrams model's inputs the way a Keras user would make them: the adapted
    TextVectorization's ids, each review's distinct ones, and naive-Bayes log-count ratios
    counted over the training reviews (naive_bayes_bag.log_count_ratios)."""
    from components import naive_bayes_bag

    containing, positive = np.zeros(vocabulary_size), np.zeros(vocabulary_size)
    for text, label in train_ds:
        ids = _distinct_known(vectorizer(text))
        labels = tf.gather(tf.cast(label, tf.float64), ids.value_rowids()).numpy()
        containing += np.bincount(ids.flat_values.numpy(), minlength=vocabulary_size)
        positive += np.bincount(ids.flat_values.numpy(), weights=labels, minlength=vocabulary_size)
    ratios = np.zeros(vocabulary_size, dtype=np.float32)
    ratios[features.RESERVED_IDS:] = naive_bayes_bag.log_count_ratios(
        positive[features.RESERVED_IDS:], (containing - positive)[features.RESERVED_IDS:])
    ratios, shape = tf.constant(ratios), [None, sequence_length]

    def features_of(text):
        ids = _distinct_known(vectorizer(text))
        return {features.TOKEN_IDS: ids.to_tensor(default_value=features.PADDING_ID, shape=shape),
                features.TOKEN_WEIGHTS: tf.gather(ratios, ids).to_tensor(default_value=0.0, shape=shape)}
    return features_of


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
    naive_bayes = config.token_encoding == features.NAIVE_BAYES_BAG_ENCODING
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_mode="int", ngrams=ngrams if ngrams > 1 else None,
        **({"ragged": True} if naive_bayes else {"output_sequence_length": sequence_length}))
    vectorizer.adapt(train_ds.map(lambda x, y: x))
    features_of = (naive_bayes_features(vectorizer, train_ds, len(vectorizer.get_vocabulary()), sequence_length)
                   if naive_bayes else vectorizer)
    timings["adapt"] = time.perf_counter() - started

    def vectorized(ds):
        return ds.map(lambda x, y: (features_of(x), tf.reshape(tf.cast(y, tf.float32), [-1, 1])),
                      num_parallel_calls=4)

    # One pass vectorizing all 50,000 reviews: the work ExampleGen + Transform do in the pipeline.
    started = time.perf_counter()
    counts = {name: sum(int(tf.shape(y)[0]) for _, y in vectorized(ds))
              for name, ds in (("train", train_ds), ("eval", val_ds), ("test", test_ds))}
    timings["vectorize_all"] = time.perf_counter() - started

    vocabulary = vectorizer.get_vocabulary()
    matrix = (glove.embedding_matrix(vocabulary[features.RESERVED_IDS:], config.glove_path, config.glove_dim)
              if config.variant == "glove" else None)
    keras.utils.set_random_seed(config.seed)
    model = models.build_model(config, len(vocabulary), sequence_length, matrix)
    # With fine-tuning, the test accuracy before it too: what fine-tuning adds, in the same run.
    fitted = fitting.fit_keeping_best(model, config, vectorized(train_ds), vectorized(val_ds),
                                      inspect_frozen_best=lambda m: float(m.evaluate(vectorized(test_ds), verbose=0)[1]))
    refit = {}
    if config.refit_on_train_and_eval:  # as the Trainer does (components/model/trainer.py)
        keras.utils.set_random_seed(config.seed)
        model = models.build_model(config, len(vocabulary), sequence_length, matrix)
        refit_timer = fitting.EpochTimer()
        model.fit(vectorized(train_ds.concatenate(val_ds)), epochs=fitted.best_epoch, callbacks=[refit_timer],
                  verbose=2)
        refit = {"refit_epochs": fitted.best_epoch, "refit_epoch_seconds": refit_timer.seconds}
    started = time.perf_counter()
    _, test_accuracy = model.evaluate(vectorized(test_ds), verbose=0)
    timings["evaluate"] = time.perf_counter() - started
    return {**refit, "examples": counts, "test_accuracy": float(test_accuracy),
            **({"frozen_test_accuracy": fitted.frozen_best} if fitted.frozen_best is not None else {}),
            **fitted.record(), "history": fitted.history,
            "train_examples_per_second": counts["train"] / statistics.median(fitted.epoch_seconds), "seconds": timings}


def main(argv=None) -> int:
    p = report.parser(__doc__)
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
    result["peak_memory_mb"] = peak_memory.peak_resident_mb()
    result["peak_memory_method"] = "VmHWM"  # earlier results files hold the parent's peak (benchmarks/peak_memory.py)
    atomic_files.write_text(args.out, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
