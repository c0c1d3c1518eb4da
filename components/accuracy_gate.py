"""The Evaluator's gate: which models are good enough to push.

A candidate is blessed when, on the whole test split, its binary accuracy is at least
`min_accuracy` and it is no worse than the latest blessed model by more than `max_drop`
(the change threshold only applies once a blessed baseline exists).

The protos come from config_pb2: the `tfma` package's top-level aliases depend on import order.
"""

from __future__ import annotations

from tensorflow_model_analysis.proto import config_pb2 as tfma

from components import features


def eval_config(min_accuracy: float, max_drop: float = 0.0) -> tfma.EvalConfig:
    if not 0 <= min_accuracy <= 1:
        raise ValueError(f"min_accuracy must be in [0, 1], not {min_accuracy}")
    if max_drop < 0:
        raise ValueError(f"max_drop must not be negative, not {max_drop}")
    accuracy_gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -max_drop - 1e-10}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=features.EXAMPLES_SIGNATURE,
            label_key=features.LABEL,
            model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.RATING])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            # Gated on the whole test split only; the per-rating slices are for reading, not gating.
            tfma.MetricConfig(class_name="BinaryAccuracy", per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=accuracy_gate)]),
            tfma.MetricConfig(class_name="AUC"),
        ])])
