"""The Evaluator's gate: which models are good enough to push.

A candidate is blessed when, on the whole test split, its binary accuracy is at least
`min_accuracy` and it is no worse than the baseline (the model being served now, found by
`served_baseline`) by more than `max_drop`; with nothing served yet only the first applies.

The thresholds are execution parameters, so that a Kubeflow run can set them (`./imdb submit --param
min_accuracy=0.9`): the executor builds the eval_config when it runs, naming a bad value's parameter.
The protos come from config_pb2: the `tfma` package's top-level aliases depend on import order.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Union

from tensorflow_model_analysis.proto import config_pb2 as tfma
from tfx import types
from tfx.components.evaluator import component as evaluator_component
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils, proto_utils

from common import features, serving_contract
from components import code_version, served_baseline

MIN_ACCURACY_KEY = "min_accuracy"
MAX_DROP_KEY = "max_accuracy_drop"


def check_thresholds(min_accuracy: float, max_drop: float) -> None:
    for key, value in ((MIN_ACCURACY_KEY, min_accuracy), (MAX_DROP_KEY, max_drop)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"{key} must be a number in [0, 1], not {value}")


def eval_config(min_accuracy: float, max_drop: float) -> tfma.EvalConfig:
    check_thresholds(min_accuracy, max_drop)
    accuracy_gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop - 1e-10}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=serving_contract.EXAMPLES_SIGNATURE, label_key=features.LABEL,
                                    model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.RATING])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            # Gated on the whole test split only; the per-rating slices are for reading, not gating.
            tfma.MetricConfig(class_name="BinaryAccuracy", per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=accuracy_gate)]),
            tfma.MetricConfig(class_name="AUC"),
            # For the run report's confusion matrix (pipeline/run_report.py).
            tfma.MetricConfig(class_name="ConfusionMatrixAtThresholds", config='{"thresholds": [0.5]}'),
        ])])


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                  MIN_ACCURACY_KEY: component_spec.ExecutionParameter(type=float),
                  MAX_DROP_KEY: component_spec.ExecutionParameter(type=float),
                  code_version.CODE_FINGERPRINT_KEY: code_version.parameter()}


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator, with the gate built from this run's thresholds and an absent baseline dropped."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        properties = dict(exec_properties)
        properties.pop(code_version.CODE_FINGERPRINT_KEY, None)
        gate = eval_config(float(properties.pop(MIN_ACCURACY_KEY)), float(properties.pop(MAX_DROP_KEY)))
        properties[standard_component_specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(gate)
        inputs = dict(input_dict)
        baseline = [m for m in inputs.pop(standard_component_specs.BASELINE_MODEL_KEY, [])
                    if served_baseline.is_present(m)]
        if baseline:
            inputs[standard_component_specs.BASELINE_MODEL_KEY] = baseline
        super().Do(inputs, output_dict, properties)


Threshold = Union[float, data_types.RuntimeParameter]


class GatedEvaluator(evaluator_component.Evaluator):
    """The Evaluator, gating on test accuracy and on the served baseline."""

    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: types.BaseChannel, min_accuracy: Threshold,
                 max_accuracy_drop: Threshold, example_splits: List[str], code_fingerprint: str = ""):
        if not any(isinstance(t, data_types.RuntimeParameter) for t in (min_accuracy, max_accuracy_drop)):
            check_thresholds(min_accuracy, max_accuracy_drop)
        spec = GatedEvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            # A placeholder the executor replaces; its presence selects TFMA's eval_config path.
            eval_config=eval_config(0.0, 0.0),
            example_splits=json_utils.dumps(example_splits),
            min_accuracy=min_accuracy, max_accuracy_drop=max_accuracy_drop, code_fingerprint=code_fingerprint,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
