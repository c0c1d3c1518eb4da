"""Warm-up requests: written with every export, replayed by the model server before a version serves."""

from __future__ import annotations

import shutil

import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from common import serving_contract, warmup
from serving.model_store import LoadedVersion, ModelStore
from served_models import publish

MODEL = "imdb_sentiment"
# The export's warm-up requests, in order: (signature, reviews).
WARMUP_REQUESTS = [(serving_contract.SERVING_SIGNATURE, 1), (serving_contract.EXAMPLES_SIGNATURE, 1),
                   (serving_contract.SERVING_SIGNATURE, 32), (serving_contract.EXAMPLES_SIGNATURE, 32)]


def test_every_export_carries_requests_for_both_signatures_at_both_batch_sizes(served_model):
    requests = warmup.read(served_model)
    found = [(r.model_spec.signature_name, *(a.shape for a in warmup.inputs_of(r).values())) for r in requests]
    assert found == [(signature, (reviews,)) for signature, reviews in WARMUP_REQUESTS]


def test_the_server_replays_them_before_the_version_is_available(served_model, tmp_path, monkeypatch):
    base = str(tmp_path / MODEL)
    version = publish(served_model, base)
    store = ModelStore(MODEL, base)
    replayed = []
    run = LoadedVersion.run

    def recording_run(self, signature, inputs):
        replayed.append((signature, *(len(v) for v in inputs.values()), list(store.served_versions)))
        return run(self, signature, inputs)

    monkeypatch.setattr(LoadedVersion, "run", recording_run)
    store.poll()
    loaded = store.get(MODEL)
    assert loaded.version == version
    # Each of the export's four requests ran once, every one before the version became AVAILABLE.
    assert [r[:2] for r in replayed] == WARMUP_REQUESTS
    assert all(version not in r[2] for r in replayed), replayed
    assert store.status(MODEL) == [{"version": version, "state": "AVAILABLE", "error": ""}]


def _bad_input_request() -> bytes:
    request = predict_pb2.PredictRequest(model_spec={"signature_name": serving_contract.SERVING_SIGNATURE},
                                         inputs={"no_such_input": tf.make_tensor_proto(["x"])})
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString()


@pytest.mark.parametrize("records, error", [
    ([b"not a PredictionLog"], "not a TFRecord file of PredictionLog records"),
    ([prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog()).SerializeToString()],
     "unsupported warm-up record 'classify_log'"),
    ([_bad_input_request()], "warm-up request 1 of "),
], ids=["garbage", "classify-log", "failing-request"])
def test_a_version_whose_warmup_fails_is_not_served_and_the_previous_one_stays(served_model, tmp_path, records, error):
    base = str(tmp_path / MODEL)
    good = publish(served_model, base)
    store = ModelStore(MODEL, base)
    store.poll()
    broken = str(tmp_path / "bad")
    shutil.copytree(served_model, broken)
    with tf.io.TFRecordWriter(warmup.path(broken)) as writer:
        for record in records:
            writer.write(record)
    bad = publish(broken, base)
    store.poll()
    assert store.served_versions == [good]
    [status] = [s for s in store.status(MODEL) if s["version"] == bad]
    assert status["state"] == "END" and error in status["error"], status
