"""`./imdb benchmark` end to end on a small aclImdb folder: both runs, the results file, the report."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import linear_peers, report
from commands import python


@pytest.mark.e2e
def test_benchmark_writes_results_and_rebuilds_the_report(imdb_folder, tmp_path):
    results_dir = tmp_path / "docs" / "benchmarks"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "benchmarks.md").write_text(f"# Kept prose\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n")
    # The embedding BiLSTM in length buckets: the pipeline's Trainer feeds it bucketed batches, plain Keras
    # the notebook's full padding, to the same masked model.
    run = python("-m", "benchmarks.full_data", "--data", imdb_folder, "--variant", "embedding", "--bucket-width", "16",
                 "--epochs", "2", "--embedding-dim", "8",
                 "--keras-epochs", "1", "--max-tokens", "200", "--sequence-length", "64", "--min-accuracy", "0",
                 "--label", "tiny", "--results-dir", str(results_dir), "--work-dir", str(tmp_path / "work"), timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    result = json.loads((results_dir / "tiny.json").read_text())
    pipeline, keras = result["pipeline"], result["keras"]
    assert pipeline["examples"]["train"] + pipeline["examples"]["eval"] == 80 and pipeline["examples"]["test"] == 80
    assert keras["examples"] == {"train": 64, "eval": 16, "test": 80}
    for run_result in (pipeline, keras):
        # Over the whole test split: a whole number of its 80 reviews right.
        assert run_result["test_accuracy"] * 80 == pytest.approx(round(run_result["test_accuracy"] * 80), abs=1e-3)
        assert len(run_result["history"]["val_accuracy"]) == len(run_result["epoch_seconds"])
        assert run_result["train_examples_per_second"] > 0 and run_result["peak_memory_mb"] > 0
    assert len(pipeline["epoch_seconds"]) == 2 and len(keras["epoch_seconds"]) == 1
    assert set(pipeline["seconds"]["components"]) >= {"ImdbExampleGen", "Transform", "Trainer", "Evaluator"}
    assert result["ratios"]["preprocessing_vs_notebook"] > 0
    training = result["settings"]["training"]
    assert training["variant"] == "embedding" and training["bucket_width"] == 16
    # The linear peers trained on the pipeline's own splits (train + eval after choosing C), every
    # peer at each n-gram range, and the plain-Keras peak measured in its own process.
    peers = result["peers"]
    assert {(p["peer"], p["ngrams"]) for p in peers} == {
        (name, n) for name in linear_peers.PEERS for n in linear_peers.NGRAM_RANGES}
    for peer in peers:
        assert peer["train_examples"] == pipeline["examples"]["train"] + pipeline["examples"]["eval"]
        assert peer["test_examples"] == pipeline["examples"]["test"]
        assert str(peer["c"]) in {str(c) for c in (*linear_peers.TFIDF_C, *linear_peers.NBSVM_C)}
    assert keras["peak_memory_method"] == "VmHWM" and keras["peak_memory_mb"] < pipeline["peak_memory_mb"]

    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert page.startswith("# Kept prose") and page.rstrip().endswith("after") and "\nold\n" not in page
    assert "| `tiny` |" in page and "validation_accuracy.png" in page and "NBSVM" in page
    assert os.path.getsize(results_dir / report.PLOT) > 10_000
