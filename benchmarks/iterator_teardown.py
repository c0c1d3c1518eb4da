"""How long dropping a tf.data iterator takes after a long epoch, with tf.data's autotuning on and off.

    ./imdb exec python -m benchmarks.iterator_teardown [--seconds 120] [--epochs 3]

The cause of the Trainer's slow epochs (docs/measurements.md, session 6), reduced to tf.data
alone: each "epoch" makes an iterator over a small map/batch/prefetch pipeline, consumes it for
--seconds, then drops it, as Keras does once per epoch over a finite dataset. With autotuning on,
the iterator's destructor waits for its autotuning thread, which only looks at cancellation when
its sleep ends; the sleep doubles as the iterator lives (up to a minute), so the wait grows with
the epoch. With autotuning off there is no such thread. The Trainer keeps autotuning and avoids
the teardown instead (components/model/trainer.py, Passes).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402


def teardown_seconds(autotune: bool, seconds: float, epochs: int) -> list:
    options = tf.data.Options()
    options.autotune.enabled = autotune
    dataset = (tf.data.Dataset.range(10**12).shuffle(1000)
               .map(lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE).batch(4)
               .map(lambda x: x + 1, num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE).with_options(options))
    waits = []
    for _ in range(epochs):
        iterator, started, taken = iter(dataset), time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            next(iterator)
            taken += 1
            if taken % 50 == 0:
                time.sleep(0.05)  # a consumer slower than the pipeline, as a training step is
        dropped = time.perf_counter()
        del iterator
        waits.append(time.perf_counter() - dropped)
    return waits


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=120, help="how long each iterator is used")
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args(argv)
    for autotune in (True, False):
        waits = teardown_seconds(autotune, args.seconds, args.epochs)
        print(f"autotune {'on ' if autotune else 'off'}: iterator teardown after {args.seconds:g} s of use: "
              + ", ".join(f"{w:.2f} s" for w in waits), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
