"""The run command's settings: defaults by data size, and bad values refused before any work."""

from __future__ import annotations

import pytest

from pipeline import cli, configs


def _settings(*argv):
    return cli.settings_from(cli.parser().parse_args(list(argv)), "/data")


def test_sample_defaults_and_full_defaults():
    sample = _settings()
    assert sample.sample_fraction == configs.DEFAULT_SAMPLE_FRACTION
    assert sample.training.epochs == configs.DEFAULT_SAMPLE_EPOCHS
    assert sample.min_accuracy == configs.DEFAULT_MIN_ACCURACY_SAMPLE
    full = _settings("--full")
    assert (full.sample_fraction, full.training.epochs, full.min_accuracy) == (1.0, 10, configs.DEFAULT_MIN_ACCURACY_FULL)


def test_options_reach_the_settings():
    s = _settings("--variant", "glove", "--epochs", "3", "--max-tokens", "20000", "--sequence-length", "300",
                  "--min-accuracy", "0.9", "--max-accuracy-drop", "0.01", "--sample-fraction", "0.1",
                  "--", "--direct_num_workers=2")
    assert (s.training.variant, s.training.epochs, s.max_tokens, s.sequence_length) == ("glove", 3, 20000, 300)
    assert (s.min_accuracy, s.max_accuracy_drop, s.sample_fraction) == (0.9, 0.01, 0.1)
    assert cli.parser().parse_args(["--", "--direct_num_workers=2"]).beam_args == ["--direct_num_workers=2"]


@pytest.mark.parametrize("argv, message", [
    (["--sample-fraction", "0"], "sample_fraction"),
    (["--sample-fraction", "1.5"], "sample_fraction"),
    (["--eval-fraction", "1"], "eval_fraction"),
    (["--min-accuracy", "2"], "min_accuracy"),
    (["--max-tokens", "2"], "max_tokens"),
    (["--sequence-length", "0"], "sequence_length"),
    (["--epochs", "0"], "epochs"),
])
def test_bad_settings_are_refused_by_name(argv, message):
    with pytest.raises(ValueError, match=message):
        _settings(*argv).validate()
