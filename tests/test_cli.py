"""The run command's settings: defaults by data size, options reaching them, paths kept (bad values:
tests/test_hostile_runs.py)."""

from __future__ import annotations

import dataclasses

from pipeline import cli, configs, options


def _settings(*argv):
    return options.settings_from(cli.parser().parse_args(list(argv)), "/data")


def test_sample_defaults_and_full_defaults():
    sample = _settings()
    tuned = configs.VARIANT_DEFAULTS[configs.DEFAULT_VARIANT]
    assert sample.sample_fraction == configs.DEFAULT_SAMPLE_FRACTION
    assert sample.training == dataclasses.replace(tuned.training, epochs=tuned.sample_epochs)
    assert (sample.max_tokens, sample.sequence_length, sample.ngrams) == (
        tuned.max_tokens, tuned.sequence_length, tuned.ngrams)
    assert sample.min_accuracy == configs.DEFAULT_MIN_ACCURACY_SAMPLE
    full = _settings("--full")
    assert (full.sample_fraction, full.training, full.min_accuracy) == (
        1.0, tuned.training, configs.DEFAULT_MIN_ACCURACY_FULL)


def test_a_notebook_variant_brings_the_notebook_configuration():
    s = _settings("--variant", "one_hot", "--full")
    assert (s.max_tokens, s.sequence_length, s.ngrams) == (8000, 600, 1)
    assert (s.training.optimizer, s.training.lstm_units, s.training.batch_size, s.training.epochs,
            s.training.dropout, s.training.early_stopping_patience) == ("rmsprop", 32, 32, 10, 0.5, 0)
    assert _settings("--variant", "embedding").training.epochs == 5  # on a sample


def test_the_notebooks_bilstms_train_in_length_buckets_unless_told_otherwise():
    for variant in ("one_hot", "embedding", "glove"):
        bucketed = _settings("--variant", variant).training
        assert bucketed.bucket_width == configs.LENGTH_BUCKET_WIDTH and bucketed.masks_padding
        notebook = _settings("--variant", variant, "--bucket-width", "0").training
        assert notebook.bucket_width == 0
        assert notebook.masks_padding == (variant == "glove")  # GloVe's model masked before buckets did
    blended = _settings("--variant", "nb_bilstm").training  # its BiLSTM branch too
    assert blended.bucket_width == configs.LENGTH_BUCKET_WIDTH and blended.masks_padding


def test_options_reach_the_settings():
    s = _settings("--variant", "glove", "--epochs", "3", "--max-tokens", "20000", "--sequence-length", "300",
                  "--ngrams", "3", "--optimizer", "adam", "--learning-rate", "0.01", "--embedding-dim", "7",
                  "--early-stopping-patience", "1", "--batch-size", "64", "--min-accuracy", "0.9", "--max-accuracy-drop", "0.01", "--sample-fraction", "0.1",
                  "--fine-tune-epochs", "4", "--fine-tune-learning-rate", "0.0001", "--", "--direct_num_workers=2")
    assert (s.training.variant, s.training.epochs, s.max_tokens, s.sequence_length) == ("glove", 3, 20000, 300)
    assert (s.ngrams, s.training.optimizer, s.training.learning_rate, s.training.embedding_dim,
            s.training.early_stopping_patience, s.training.batch_size) == (3, "adam", 0.01, 7, 1, 64)
    assert (s.min_accuracy, s.max_accuracy_drop, s.sample_fraction) == (0.9, 0.01, 0.1)
    assert (s.training.fine_tune_epochs, s.training.fine_tune_learning_rate) == (4, 0.0001)
    assert cli.parser().parse_args(["--", "--direct_num_workers=2"]).beam_args == ["--direct_num_workers=2"]


def test_a_remote_glove_path_is_kept_and_a_local_one_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _settings("--glove-path", "gs://bucket/glove.6B.100d.txt").training.glove_path == "gs://bucket/glove.6B.100d.txt"
    assert _settings("--glove-path", "glove.txt").training.glove_path == str(tmp_path / "glove.txt")


def test_a_remote_output_dir_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--output-dir", "gs://bucket/outputs"]) == 2
    assert "--output-dir 'gs://bucket/outputs' is not a local folder" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
