"""The data gate: ExampleValidator against the curated schema, stopping the run on any anomaly.

TFX's ExampleValidator only writes its findings down, so bad data would still be trained on and
pushed. This executor raises, naming each anomaly, before Transform: a bad data drop costs statistics,
not a training run. With `allow_anomalies` the run goes on, the anomalies recorded (custom property `anomalies`).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.example_validator import component as validator_component
from tfx.components.example_validator import executor as validator_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components import code_version

ALLOW_ANOMALIES_KEY = "allow_anomalies"
ANOMALIES_PROPERTY = "anomalies"


class DataAnomalies(RuntimeError):
    """The data does not satisfy the curated schema; the message lists every anomaly."""

    def __init__(self, anomalies: List[str]):
        self.anomalies = anomalies
        super().__init__("the data does not satisfy the schema (components/schema/schema.pbtxt):\n"
                         + "\n".join(f"  - {a}" for a in anomalies)
                         + "\nNothing was trained or pushed. Fix the data, or pass --allow-anomalies.")


def describe(split: str, anomalies: anomalies_pb2.Anomalies) -> List[str]:
    found = [f"{split} split, feature '{feature}': {info.short_description}: {info.description}"
             for feature, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        found.append(f"{split} split: {info.short_description}: {info.description}")
    return found


class GatedExampleValidatorSpec(standard_component_specs.ExampleValidatorSpec):
    PARAMETERS = {**standard_component_specs.ExampleValidatorSpec.PARAMETERS,
                  ALLOW_ANOMALIES_KEY: component_spec.ExecutionParameter(type=int),
                  code_version.CODE_FINGERPRINT_KEY: code_version.parameter()}


class Executor(validator_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]):
        properties = dict(exec_properties)
        allow = bool(properties.pop(ALLOW_ANOMALIES_KEY, 0))
        properties.pop(code_version.CODE_FINGERPRINT_KEY, None)
        self._found: List[str] = []
        result = super().Do(input_dict, output_dict, properties)
        [artifact] = output_dict[standard_component_specs.ANOMALIES_KEY]
        artifact.set_json_value_custom_property(ANOMALIES_PROPERTY, self._found)
        for mlmd_artifact in result.output_artifacts[standard_component_specs.ANOMALIES_KEY].artifacts:
            mlmd_artifact.CopyFrom(artifact.mlmd_artifact)
        if self._found and not allow:
            raise DataAnomalies(self._found)
        for anomaly in self._found:
            logging.warning("proceeding despite a data anomaly (--allow-anomalies): %s", anomaly)
        return result

    def _Validate(self, inputs: Dict[str, Any], outputs: Dict[str, Any]) -> anomalies_pb2.Anomalies:
        anomalies = super()._Validate(inputs, outputs)
        split = outputs[validator_executor.labels.SCHEMA_DIFF_PATH].rstrip("/").rsplit("Split-", 1)[-1]
        self._found.extend(describe(split, anomalies))
        # TFDV's dataset_constraints do not fire on a split without examples; it is checked here.
        statistics = inputs[standard_component_specs.STATISTICS_KEY]
        if not any(dataset.num_examples for dataset in statistics.datasets):
            self._found.append(f"{split} split: Empty split: it holds no examples")
        return anomalies


class GatedExampleValidator(validator_component.ExampleValidator):
    """ExampleValidator that fails the run on anomalies unless ALLOW_ANOMALIES."""

    SPEC_CLASS = GatedExampleValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel, allow_anomalies: bool = False,
                 code_fingerprint: str = ""):
        base_component.BaseComponent.__init__(self, spec=GatedExampleValidatorSpec(
            statistics=statistics, schema=schema, exclude_splits=json_utils.dumps([]),
            allow_anomalies=int(allow_anomalies), code_fingerprint=code_fingerprint,
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
