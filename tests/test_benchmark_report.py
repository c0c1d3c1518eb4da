"""benchmarks/report.py's parity over seeds: runs labelled NAME_seed_N compared as one setting."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import report


def _side(accuracy: float, seconds: float) -> dict:
    return {"test_accuracy": accuracy, "best_epoch": 2, "epoch_seconds": [seconds, seconds + 1],
            "history": {"val_accuracy": [accuracy - 0.01, accuracy]}, "peak_memory_mb": 2048,
            "peak_memory_method": "VmHWM", "seconds": {"preprocessing": 30.0, "total": 600.0, "components": {"Trainer": 60.0}}}


def _result(label: str, seed: int, pipeline: float, keras: float, epochs: int = 10) -> dict:
    return {"label": label, "date": "2026-12-06", "command": f"./imdb benchmark --seed {seed}",
            "machine": {"cores": 2, "cpu": "test", "memory_gib": 23.5}, "notebook_test_accuracy": 0.855,
            "settings": {"ngrams": 1, "training": {"variant": "one_hot", "seed": seed, "epochs": epochs}},
            "pipeline": _side(pipeline, 40.0), "keras": _side(keras, 44.0),
            "ratios": {"trainer_vs_keras_examples_per_second": 1.1, "preprocessing_vs_notebook": 2.0}}


def _write(folder, *results) -> None:
    os.makedirs(folder, exist_ok=True)
    for result in results:
        (folder / f"{result['label']}.json").write_text(json.dumps(result))


def test_parity_is_mean_and_spread_per_side_and_flags_a_gap_beyond_the_spread():
    close = [_result(f"one_hot_seed_{s}", s, p, k) for s, p, k in ((1, 0.86, 0.87), (2, 0.88, 0.86), (3, 0.87, 0.88))]
    got = report.parity(close)
    assert got["seeds"] == [1, 2, 3]
    assert got["pipeline"]["mean"] == pytest.approx(0.87) and got["keras"]["mean"] == pytest.approx(0.87)
    assert got["spread"] == pytest.approx(0.02) and not got["lower_beyond_spread"]
    apart = [_result(f"one_hot_seed_{s}", s, p, k) for s, p, k in ((1, 0.850, 0.875), (2, 0.851, 0.876), (3, 0.852, 0.877))]
    got = report.parity(apart)
    assert got["difference"] == pytest.approx(-0.025) and got["spread"] == pytest.approx(0.002)
    assert got["lower_beyond_spread"]


def test_seeded_runs_are_grouped_by_name_and_must_differ_only_in_their_seed():
    runs = [_result("one_hot_seed_1", 1, 0.86, 0.87), _result("one_hot_seed_2", 2, 0.87, 0.86),
            _result("one_hot", 42, 0.86, 0.87), _result("embedding_seed_1", 1, 0.85, 0.86)]
    assert {name: [r["label"] for r in group] for name, group in report.seed_groups(runs).items()} == {
        "one_hot": ["one_hot_seed_1", "one_hot_seed_2"]}  # one seed alone is no group
    with pytest.raises(SystemExit, match="differ in more than their seed"):
        report.seed_groups([runs[0], _result("one_hot_seed_3", 3, 0.86, 0.87, epochs=2)])
    # A field added since a run was recorded compares as its default (the run had it so), any other value apart.
    added = _result("one_hot_seed_4", 4, 0.86, 0.87)
    added["settings"]["training"]["bucket_width"] = 0
    assert len(report.seed_groups([runs[0], added])["one_hot"]) == 2
    added["settings"]["training"]["bucket_width"] = 50
    with pytest.raises(SystemExit, match="differ in more than their seed"):
        report.seed_groups([runs[0], added])
    without_keras = {**runs[1]}
    del without_keras["keras"]
    with pytest.raises(SystemExit, match="needs its Keras run"):
        report.seed_groups([runs[0], without_keras])


def test_the_page_gets_the_parity_table_and_a_plot_of_each_seeds_curves(tmp_path):
    folder = tmp_path / "benchmarks"
    _write(folder, *(_result(f"one_hot_seed_{s}", s, p, k) for s, p, k in ((1, 0.86, 0.87), (2, 0.88, 0.86))),
           _result("nb_ngrams", 42, 0.92, 0.92))
    (tmp_path / "benchmarks.md").write_text(f"# Prose\n\n{report.BEGIN}\n{report.END}\n")
    page = open(report.write(str(folder))).read()
    row = next(line for line in page.splitlines() if line.startswith("| `one_hot` | 1, 2 |"))
    assert "0.8700 (0.0141; 0.8600, 0.8800)" in row and "0.8650 (0.0071; 0.8700, 0.8600)" in row
    assert "+0.0050" in row and "| no |" in row and "1.10x" in row
    assert "(benchmarks/parity_one_hot.png)" in page and "(benchmarks/validation_accuracy.png)" in page
    assert os.path.getsize(folder / "parity_one_hot.png") > 10_000


def test_a_blended_run_gets_its_branches_table(tmp_path):
    """nb_bilstm's results: each branch's and the blend's eval accuracy, the blend, the epochs and costs."""
    folder = tmp_path / "benchmarks"
    run = _result("nb_bilstm", 42, 0.9302, 0.0)
    del run["keras"], run["ratios"]
    run["pipeline"]["history"].update(
        bag={"best_epoch": 2, "epoch_seconds": [3.0, 2.0, 2.5], "loss": [0.3, 0.1, 0.05]},
        blend={"weights": [0.81, 0.52], "bias": -0.013, "eval_accuracy": {"bag": 0.92, "bilstm": 0.87, "blend": 0.93}})
    _write(folder, run)
    page = open(report.write(str(folder))).read()
    assert ("| `nb_bilstm` | 0.9302 | 0.9200 / 0.8700 / 0.9300 | 0.810, 0.520, -0.013 | 2 of 3 / 2 of 2 | "
            "2 / 40 | 60 s |") in page
