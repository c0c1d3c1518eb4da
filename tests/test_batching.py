"""The batcher's scheduling: a request whose caller stopped waiting is not run. The model is a recorder
(the batcher only calls `run(signature, inputs)`): under test is which calls the batcher makes, not
what a model answers (tests/test_serving.py runs real models)."""

import asyncio
import threading
import time

import numpy as np
import pytest

from serving import errors
from serving.batching import Batcher
from serving.limits import RequestLimits
from serving.options import BatchingOptions
from serving.predictor import Predictor


class RecordingVersion:
    """Runs are recorded; the first one waits until released, so later requests queue behind it."""

    def __init__(self):
        self.runs = []
        self.release = threading.Event()
        self.started = threading.Event()

    def run(self, signature, inputs):
        self.runs.append(list(inputs["reviews"]))
        self.started.set()
        assert self.release.wait(10)
        return {"probability": np.zeros((len(inputs["reviews"]), 1), np.float32)}


def _one_at_a_time():
    return Batcher(BatchingOptions(max_batch_size=1, num_batch_threads=1))


def test_a_cancelled_request_is_skipped_and_the_others_still_answered():
    version, batcher = RecordingVersion(), _one_at_a_time()
    try:
        first = batcher.submit(version, "serving_default", {"reviews": np.array([b"first"], object)})
        assert version.started.wait(10)
        cancelled = batcher.submit(version, "serving_default", {"reviews": np.array([b"gone"], object)})
        last = batcher.submit(version, "serving_default", {"reviews": np.array([b"last"], object)})
        assert cancelled.cancel()
        version.release.set()
        assert first.result(10)["probability"].shape == (1, 1)
        assert last.result(10)["probability"].shape == (1, 1)
    finally:
        version.release.set()
        batcher.close()
    assert version.runs == [[b"first"], [b"last"]]


def test_a_rest_request_past_its_deadline_gets_deadline_exceeded_and_is_not_run():
    version, batcher = RecordingVersion(), _one_at_a_time()
    predictor = Predictor(store=None, batcher=batcher, metrics=None, limits=RequestLimits(timeout_seconds=0.2))
    try:
        batcher.submit(version, "serving_default", {"reviews": np.array([b"busy"], object)})
        assert version.started.wait(10)

        async def late_request():
            started = time.perf_counter()
            future = batcher.submit(version, "serving_default", {"reviews": np.array([b"late"], object)})
            return await predictor.answer(future, started)

        with pytest.raises(errors.ServingError) as raised:
            asyncio.run(late_request())
        assert raised.value.http_status == 504
    finally:
        version.release.set()
        batcher.close()
    assert version.runs == [[b"busy"]]
