"""The serving canary: the candidate must load in the model server and answer right before it is pushed.

TFX's InfraValidator needs Docker or Kubernetes to start a TF Serving container, which a Kubeflow pod
cannot do. This component runs the project's own server (serving/local_server.py) on loopback, alike
locally and in a pod: the candidate is loaded as a server loads it (version directory, warm-up
replayed), queried over REST and gRPC with test reviews, and each answer compared with the signature
the Evaluator judged (`from_examples`, in-process), so a serving signature that fails, is missing or
disagrees is caught. The result is the InfraBlessing the Pusher requires; a candidate the Evaluator
did not bless is not tried (its InfraBlessing says why).
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, component_spec, standard_artifacts
from tfx.utils import io_utils, path_utils

from common import features, serving_contract
from components import code_version

MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
EXAMPLES_KEY = "examples"
BLESSING_KEY = "blessing"
MODEL_NAME_KEY = "model_name"
NUM_REVIEWS_KEY = "num_reviews"
# Custom properties of the InfraBlessing: TFX's `blessed` (what the Pusher reads), and why.
BLESSED_PROPERTY = "blessed"
REASON_PROPERTY = "reason"
TRIED_PROPERTY = "tried"  # 0: the Evaluator did not bless the candidate, so it was not served
# Answers over the network may differ from the in-process call only by float rounding.
TOLERANCE = 1e-5
PROTOCOLS = ("rest", "grpc")


class CanaryFailed(Exception):
    """The candidate cannot be served as evaluated; the message says how."""


def test_reviews(examples: types.Artifact, split: str, count: int) -> List[bytes]:
    """The first COUNT serialized tf.Examples of SPLIT (ExampleGen's order is deterministic)."""
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(fileio.glob(pattern))
    if not files:
        raise CanaryFailed(f"no {split} examples under {pattern}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    return list(dataset.as_numpy_iterator())


def _evaluated_answers(model_dir: str, serialized: List[bytes]) -> np.ndarray:
    """What the Evaluator measured: the model's tf.Example signature, called in this process."""
    signature = tf.saved_model.load(model_dir).signatures.get(serving_contract.EXAMPLES_SIGNATURE)
    if signature is None:
        raise CanaryFailed(f"the model has no {serving_contract.EXAMPLES_SIGNATURE!r} signature")
    try:
        result = signature(**{serving_contract.EXAMPLES_INPUT: tf.constant(serialized)})
        return result[serving_contract.PROBABILITY_OUTPUT].numpy().reshape(-1)
    except (tf.errors.OpError, KeyError, TypeError, ValueError) as error:
        raise CanaryFailed(f"the {serving_contract.EXAMPLES_SIGNATURE!r} signature fails: {error}") from error


def probe(base_path: str, model_name: str, serialized: List[bytes]) -> str:
    """Serves version 1 under BASE_PATH on loopback, checks its REST and gRPC answers; returns a
    report, or raises CanaryFailed naming what went wrong."""
    from serving.client import SentimentClient, ServingRequestError
    from serving.local_server import LocalModelServer
    from serving.options import ServerOptions

    expected = _evaluated_answers(os.path.join(base_path, "1"), serialized)
    parsed = tf.io.parse_example(serialized, {features.TEXT: tf.io.FixedLenFeature([], tf.string)})
    reviews = [t.decode("utf-8") for t in parsed[features.TEXT].numpy()]
    options = ServerOptions(model_name=model_name, base_path=base_path, rest_port=0, grpc_port=0, poll_seconds=3600)
    with LocalModelServer(options) as server:
        if not server.store.served_versions:
            [status] = server.store.status(model_name)
            raise CanaryFailed(f"the model server could not load the model: {status['error']}")
        worst = 0.0
        for protocol in PROTOCOLS:
            target = server.rest_url if protocol == "rest" else server.grpc_target
            with SentimentClient(target, protocol=protocol, model_name=model_name) as client:
                try:
                    answers = np.asarray(client.predict(reviews))
                except ServingRequestError as error:
                    raise CanaryFailed(f"{protocol.upper()} predict failed: {error}") from error
            if answers.shape != expected.shape:
                raise CanaryFailed(f"{protocol.upper()} answered {answers.size} probabilities "
                                   f"for {expected.size} reviews")
            differences = np.abs(answers - expected)
            if not np.all(differences <= TOLERANCE):
                row = int(np.argmax(np.where(np.isnan(differences), np.inf, differences)))
                raise CanaryFailed(
                    f"{protocol.upper()} answers differ from the evaluated signature "
                    f"({serving_contract.EXAMPLES_SIGNATURE}): test review {row} got {answers[row]:.6f}, "
                    f"the Evaluator's signature {expected[row]:.6f}")
            worst = max(worst, float(differences.max()))
    return (f"loaded, {len(reviews)} test reviews answered over REST and gRPC as evaluated "
            f"(largest difference {worst:.1e})")


class ServingCanarySpec(component_spec.ComponentSpec):
    PARAMETERS = {MODEL_NAME_KEY: component_spec.ExecutionParameter(type=str),
                  NUM_REVIEWS_KEY: component_spec.ExecutionParameter(type=int),
                  code_version.CODE_FINGERPRINT_KEY: code_version.parameter()}
    INPUTS = {MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
              MODEL_BLESSING_KEY: component_spec.ChannelParameter(type=standard_artifacts.ModelBlessing,
                                                                  optional=True),
              EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {BLESSING_KEY: component_spec.ChannelParameter(type=standard_artifacts.InfraBlessing)}


def _mark(blessing: types.Artifact, blessed: bool, reason: str, tried: bool = True) -> None:
    # The marker files are InfraValidator's (tfx/components/infra_validator/executor.py).
    io_utils.write_string_file(os.path.join(blessing.uri, "INFRA_BLESSED" if blessed else "INFRA_NOT_BLESSED"),
                               reason)
    blessing.set_int_custom_property(BLESSED_PROPERTY, int(blessed))
    blessing.set_string_custom_property(REASON_PROPERTY, reason)
    blessing.set_int_custom_property(TRIED_PROPERTY, int(tried))
    (logging.info if blessed else logging.warning)("serving canary: %s", reason)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])
        model_blessing: Optional[types.Artifact] = next(iter(input_dict.get(MODEL_BLESSING_KEY) or []), None)
        if model_blessing is not None and not model_utils.is_model_blessed(model_blessing):
            _mark(blessing, False, "the Evaluator did not bless the candidate", tried=False)
            return
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        try:
            serialized = test_reviews(examples, features.TEST_SPLIT, int(exec_properties[NUM_REVIEWS_KEY]))
            with tempfile.TemporaryDirectory(prefix="serving-canary-") as base_path:
                # Version 1 of a base path on local disk, as a server reads it (the model may be on gs://).
                io_utils.copy_dir(path_utils.serving_model_path(model.uri), os.path.join(base_path, "1"))
                report = probe(base_path, exec_properties[MODEL_NAME_KEY], serialized)
        except CanaryFailed as failure:
            _mark(blessing, False, str(failure))
        else:
            _mark(blessing, True, report)


class ServingCanary(base_component.BaseComponent):
    """Serves the blessed candidate on loopback and checks its answers; outputs an InfraBlessing."""

    SPEC_CLASS = ServingCanarySpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, model_name: str,
                 model_blessing: Optional[types.BaseChannel] = None, num_reviews: int = 64,
                 code_fingerprint: str = ""):
        super().__init__(spec=ServingCanarySpec(
            model=model, model_blessing=model_blessing, examples=examples, model_name=model_name,
            num_reviews=num_reviews, code_fingerprint=code_fingerprint,
            blessing=types.Channel(type=standard_artifacts.InfraBlessing)))
