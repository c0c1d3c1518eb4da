"""Publishes a SavedModel to an object-store base path while a reader polls it as TF Serving does;
prints as JSON every set of files the reader found in a version folder. Run in a pod of the local
cluster (tests/test_container_image.py), where gs:// is Cloud Storage's API, as
`python -c "$(cat tests/publish_race.py)" SOURCE BASE ordered|tfx`: the project's Pusher
(atomic_pusher.publish_version) or TFX's own copy (io_utils.copy_dir straight into <base>/<version>/).
Each object's copy is slowed so that the reader sees the folder between copies; when it finds
saved_model.pb it loads the version as TF Serving would and records whether it answers as the source."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from common import serving_contract
from components import atomic_pusher

REVIEWS = tf.constant(["A wonderful film.", "Two hours I will never get back."])


def answers(path: str):
    signature = tf.saved_model.load(path).signatures[serving_contract.SERVING_SIGNATURE]
    return signature(**{serving_contract.REVIEWS_INPUT: REVIEWS})[serving_contract.PROBABILITY_OUTPUT].numpy().tolist()


def main(source: str, base: str, mode: str) -> None:
    expected = answers(source)
    copy = fileio.copy

    def slow_copy(*args, **kwargs):
        copy(*args, **kwargs)
        time.sleep(0.5)

    fileio.copy = slow_copy
    seen, loads, done = [], [], threading.Event()

    def poll():
        while not done.is_set():
            if fileio.exists(base):
                for child in fileio.listdir(base):
                    folder = os.path.join(base, child.strip("/"))
                    if child.strip("/").isdigit():
                        files = sorted(atomic_pusher._files(folder))
                        if files not in seen:
                            seen.append(files)
                        if any(f in files for f in atomic_pusher.SAVED_MODEL_FILES):
                            try:
                                loads.append({"files": files, "same_answers": answers(folder) == expected})
                            except Exception as error:  # what TF Serving would retry
                                loads.append({"files": files, "error": str(error)[:200]})
            time.sleep(0.05)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        if mode == "ordered":
            atomic_pusher.publish_version(source, base)
        else:
            io_utils.copy_dir(source, os.path.join(base, str(int(time.time()))))
        time.sleep(1)
    finally:
        done.set()
        reader.join()
    print(json.dumps({"source_files": sorted(atomic_pusher._files(source)), "seen": seen, "loads": loads}))


if __name__ == "__main__":
    main(*sys.argv[1:])
