"""Seconds per training epoch of a variant (the default model unless told), with and without re-reading the data.

Separates the input pipeline from the model: the transformed training split iterated alone,
trained on while read and parsed every epoch (as the Trainer does), and trained on cached in
memory. Prints the size per review (tf.Example, and gzipped on disk), then each mode's epoch times
and median examples/s (docs/measurements.md, docs/scaling.md).

    ./imdb exec python -m benchmarks.epoch_times --transform-dir OUTPUT/pipelines/imdb-sentiment/Transform
    ./imdb exec python -m benchmarks.epoch_times --transform-dir ... --variant embedding --modes stream cached
    ./imdb exec python -m benchmarks.epoch_times --transform-dir ... --variant one_hot --modes stream bucketed

`cached` against `stream` shows what reading costs; `stream` against the Trainer's own epochs (its
history) what the Trainer adds: its tf.distribute strategy, tfx-bsl's dataset, the validation pass;
`bucketed` against `stream` what a BiLSTM's padding costs: the same rows in length buckets
(`--bucket-width`, fitting.in_length_buckets), the model masking padding.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from benchmarks import report  # noqa: E402
from common import features  # noqa: E402
from components.model import fitting, trainer  # noqa: E402
from pipeline import configs  # noqa: E402

MODES = ("iterate", "stream", "cached", "bucketed")


def _newest(pattern: str) -> str:
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        raise SystemExit(f"nothing matches {pattern}: pass a Transform component's output folder")
    return found[-1]


def dataset(files, spec, batch_size: int, cache: bool) -> tf.data.Dataset:
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if cache:
        records = records.cache()
    parsed = records.shuffle(50_000, seed=1).batch(batch_size).map(
        lambda s: tf.io.parse_example(s, spec), num_parallel_calls=tf.data.AUTOTUNE)
    return parsed.map(lambda x: ({k: v for k, v in x.items() if k != features.LABEL},
                                 tf.reshape(tf.cast(x[features.LABEL], tf.float32), [-1, 1]))).prefetch(tf.data.AUTOTUNE)


def transform_output(transform_dir: str) -> tuple:
    """The newest Transform graph under a Transform component's folder, and the newest transformed training
    files ApplyTransform wrote beside it (the same pipeline's folder)."""
    tft_output = tft.TFTransformOutput(_newest(os.path.join(transform_dir, "transform_graph", "*")))
    applied = os.path.join(os.path.dirname(os.path.normpath(transform_dir)), "ApplyTransform")
    files = glob.glob(os.path.join(_newest(os.path.join(applied, "transformed_examples", "*")),
                                   f"Split-{features.TRAIN_SPLIT}", "*"))
    return tft_output, files


def epoch_seconds(mode: str, transform_dir: str, epochs: int, variant: str = configs.DEFAULT_VARIANT,
                  bucket_width: int = configs.LENGTH_BUCKET_WIDTH) -> list:
    tft_output, files = transform_output(transform_dir)
    # The other modes: the notebook's way, every review at the full padding, none of it masked.
    config = dataclasses.replace(configs.VARIANT_DEFAULTS[variant].training,
                                 bucket_width=bucket_width if mode == "bucketed" else 0)
    data = dataset(files, tft_output.transformed_feature_spec(), config.batch_size, cache=mode == "cached")
    steps = {}
    if mode == "bucketed":  # one stream, as the Trainer reads it; an epoch is as many batches as a pass
        steps = {"steps_per_epoch": int(data.reduce(0, lambda count, _: count + 1))}
        data = fitting.in_length_buckets(data.repeat(), features.TOKEN_IDS, bucket_width, config.batch_size)
    if mode == "iterate":
        seconds = []
        for _ in range(epochs):
            started = time.perf_counter()
            for _ in data:
                pass
            seconds.append(time.perf_counter() - started)
        return seconds
    model = trainer.build_for_transform(config, tft_output)
    timer = fitting.EpochTimer()
    model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], **steps)
    return timer.seconds


def main(argv=None) -> int:
    p = report.parser(__doc__)
    p.add_argument("--transform-dir", required=True, help="a Transform component's output folder")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--modes", nargs="+", choices=MODES, default=MODES)
    p.add_argument("--variant", choices=list(configs.VARIANT_DEFAULTS), default=configs.DEFAULT_VARIANT,
                   help="the model trained, with its default settings (default %(default)s); the Transform "
                        "output must be of its encoding")
    p.add_argument("--bucket-width", type=int, default=configs.LENGTH_BUCKET_WIDTH,
                   help="bucketed: tokens per length bucket (default %(default)s)")
    args = p.parse_args(argv)
    _, files = transform_output(args.transform_dir)
    sizes = [len(r) for r in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()]
    print(f"{len(sizes):,} reviews: {sum(sizes) / len(sizes):,.0f} bytes each as tf.Examples, "
          f"{sum(os.path.getsize(f) for f in files) / len(sizes):,.0f} gzipped on disk", flush=True)
    for mode in args.modes:
        seconds = epoch_seconds(mode, args.transform_dir, args.epochs, args.variant, args.bucket_width)
        print(mode, " ".join(f"{s:.2f}" for s in seconds), f"s; median {len(sizes) / statistics.median(seconds):,.0f} examples/s",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
