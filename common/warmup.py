"""Warm-up requests that travel with the exported model, in TF Serving's format.

The first call of a freshly loaded SavedModel pays for work no later call repeats (graph optimisation,
kernels, lookup tables), which the first users after every version switch would wait for. TF Serving
replays `assets.extra/tf_serving_warmup_requests` before it marks a version AVAILABLE (as does
serving/model_store.py): both signatures, one review and a full batch of every length class (empty,
short, past the sequence length, non-ASCII)."""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Sequence

import numpy as np
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from common import features, serving_contract

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
# TF Serving refuses a warm-up file with more records than this (servables/tensorflow/saved_model_warmup_util.cc).
MAX_RECORDS = 1000

WARMUP_REVIEWS = (
    "A wonderful, moving film; the cast is superb.",
    "Two hours I will never get back.<br /><br />Avoid it.",
    "",
    "Café society, naïve and “quoted”: 10/10!",
    "An ordinary plot, some good acting, and an ending that goes on too long. " * 40,
)
BATCH_SIZES = (1, 32)


def path(saved_model_dir: str) -> str:
    return os.path.join(saved_model_dir, ASSETS_EXTRA, WARMUP_FILE)


def _requests(reviews: Sequence[str], batch_sizes: Sequence[int]) -> Iterator[predict_pb2.PredictRequest]:
    for size in batch_sizes:
        batch = [reviews[i % len(reviews)] for i in range(size)]
        examples = [tf.train.Example(features=tf.train.Features(feature={
            features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[r.encode()]))}))
            .SerializeToString() for r in batch]
        for signature, name, values in (
                (serving_contract.SERVING_SIGNATURE, serving_contract.REVIEWS_INPUT, batch),
                (serving_contract.EXAMPLES_SIGNATURE, serving_contract.EXAMPLES_INPUT, examples)):
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature
            request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
            yield request


def write(saved_model_dir: str) -> str:
    target = path(saved_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(target))
    with tf.io.TFRecordWriter(target) as writer:
        for request in _requests(WARMUP_REVIEWS, BATCH_SIZES):
            writer.write(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
    return target


class WarmupError(ValueError):
    """The warm-up file cannot be replayed; TF Serving fails the version's load on the same grounds."""


def read(saved_model_dir: str) -> List[predict_pb2.PredictRequest]:
    """The predict requests of SAVED_MODEL_DIR's warm-up file ([] when it has none)."""
    target = path(saved_model_dir)
    if not tf.io.gfile.exists(target):
        return []
    requests = []
    try:
        for record in tf.data.TFRecordDataset(target).as_numpy_iterator():
            if len(requests) >= MAX_RECORDS:
                raise WarmupError(f"{target}: more than {MAX_RECORDS} warm-up records")
            log = prediction_log_pb2.PredictionLog.FromString(record)
            if log.WhichOneof("log_type") != "predict_log":
                raise WarmupError(f"{target}: unsupported warm-up record {log.WhichOneof('log_type')!r} "
                                  "(this server answers predict requests only)")
            requests.append(log.predict_log.request)
    except (tf.errors.OpError, message.DecodeError) as error:
        raise WarmupError(f"{target}: not a TFRecord file of PredictionLog records ({getattr(error, 'message', error)})") from error
    return requests


def inputs_of(request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
    return {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
