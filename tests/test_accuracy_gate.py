"""The Evaluator's gate is on the whole test split, against a threshold and the last blessed model."""

from __future__ import annotations

import pytest

from components import accuracy_gate, features


def _accuracy_config(config):
    return next(m for spec in config.metrics_specs for m in spec.metrics if m.class_name == "BinaryAccuracy")


def test_gate_reads_the_examples_signature_and_the_label():
    config = accuracy_gate.eval_config(0.8)
    assert config.model_specs[0].signature_name == features.EXAMPLES_SIGNATURE
    assert config.model_specs[0].label_key == features.LABEL


def test_thresholds_apply_to_the_overall_slice_only():
    metric = _accuracy_config(accuracy_gate.eval_config(0.8, max_drop=0.01))
    assert not metric.HasField("threshold")  # a plain threshold would also gate every rating slice
    [gate] = metric.per_slice_thresholds
    assert [s.feature_keys for s in gate.slicing_specs] == [[]]
    assert gate.threshold.value_threshold.lower_bound.value == 0.8
    assert gate.threshold.change_threshold.absolute.value == pytest.approx(-0.01)


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="min_accuracy"):
        accuracy_gate.eval_config(1.5)
    with pytest.raises(ValueError, match="max_drop"):
        accuracy_gate.eval_config(0.8, max_drop=-0.1)
