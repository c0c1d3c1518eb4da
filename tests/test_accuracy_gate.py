"""The Evaluator's gate is on the whole test split, against a threshold and the served model."""

from __future__ import annotations

import pytest

from common import features, serving_contract
from components import accuracy_gate


def test_gate_reads_the_examples_signature_and_the_label():
    config = accuracy_gate.eval_config(0.8, 0.0)
    assert config.model_specs[0].signature_name == serving_contract.EXAMPLES_SIGNATURE
    assert config.model_specs[0].label_key == features.LABEL


def test_thresholds_apply_to_the_overall_slice_only():
    config = accuracy_gate.eval_config(0.8, max_drop=0.01)
    metric = next(m for spec in config.metrics_specs for m in spec.metrics if m.class_name == "BinaryAccuracy")
    assert not metric.HasField("threshold")  # a plain threshold would also gate every rating slice
    [gate] = metric.per_slice_thresholds
    assert [s.feature_keys for s in gate.slicing_specs] == [[]]
    assert gate.threshold.value_threshold.lower_bound.value == 0.8
    assert gate.threshold.change_threshold.absolute.value == pytest.approx(-0.01)


@pytest.mark.parametrize("min_accuracy, max_drop, named", [
    (1.5, 0.0, "min_accuracy"), (float("nan"), 0.0, "min_accuracy"),
    (0.8, -0.1, "max_accuracy_drop"), (0.8, float("nan"), "max_accuracy_drop"),
    (0.8, float("inf"), "max_accuracy_drop")])
def test_bad_thresholds_are_refused(min_accuracy, max_drop, named):
    with pytest.raises(ValueError, match=named):
        accuracy_gate.eval_config(min_accuracy, max_drop)
