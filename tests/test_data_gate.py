"""The data gate, through `./imdb run`: data that breaks the curated schema stops the run before
Transform, naming each anomaly; --allow-anomalies proceeds and lists them. (Healthy data passes
the gate in every end-to-end test.)"""

from __future__ import annotations

import os
import subprocess

import pytest

import synthetic_imdb
from commands import python

pytestmark = pytest.mark.e2e

SMALL = ["--sample-fraction", "1", "--epochs", "1", "--max-tokens", "100", "--sequence-length", "48",
         "--min-accuracy", "0", "--variant", "ngram_bag"]


def _run(data: str, out: str, *extra: str) -> subprocess.CompletedProcess:
    return python("-m", "pipeline.cli", "--data", data, "--output-dir", out, *SMALL, *extra, timeout=900)


def _ran(out: str) -> set:
    """Components that produced artifacts in this output directory."""
    root = os.path.join(out, "pipelines", "imdb-sentiment")
    return set(os.listdir(root)) if os.path.isdir(root) else set()


@pytest.fixture(scope="module")
def out_of_range_rating(tmp_path_factory) -> str:
    folder = synthetic_imdb.write_folder(str(tmp_path_factory.mktemp("rating")), per_class=20)
    with open(os.path.join(folder, "train", "pos", "999_15.txt"), "w") as review:
        review.write("A fine film, rated fifteen out of ten.")
    return folder


def test_an_out_of_range_rating_stops_the_run_before_transform(out_of_range_rating, tmp_path):
    out = str(tmp_path / "outputs")
    result = _run(out_of_range_rating, out)
    assert result.returncode == 1
    assert "the data does not satisfy the schema" in result.stderr
    assert "train split, feature 'rating': Out-of-range values" in result.stderr
    assert "Nothing was trained or pushed" in result.stderr and "Traceback" not in result.stderr
    assert {"ImdbExampleGen", "StatisticsGen", "ImportSchemaGen"} <= _ran(out)
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & _ran(out)
    assert not os.path.exists(os.path.join(out, "serving_model"))


def test_an_empty_split_stops_the_run(tmp_path):
    folder = synthetic_imdb.write_folder(str(tmp_path / "data"), per_class=4)
    out = str(tmp_path / "outputs")
    result = _run(folder, out, "--eval-fraction", "0.01")  # 8 training reviews: none left for eval
    assert result.returncode == 1
    assert "eval split:" in result.stderr and "Traceback" not in result.stderr
    assert not {"Transform", "Trainer"} & _ran(out)


def test_allow_anomalies_proceeds_and_lists_them(out_of_range_rating, tmp_path):
    result = _run(out_of_range_rating, str(tmp_path / "outputs"), "--allow-anomalies")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "anomalies allowed" in result.stdout
    assert "data anomalies: allowed by --allow-anomalies:" in result.stdout
    assert "feature 'rating': Out-of-range values" in result.stdout
    assert "pushed to: " in result.stdout and "not pushed" not in result.stdout


def test_schema_command_proposes_and_diffs_without_touching_the_curated_schema(tmp_path):
    from pipeline.pipeline import SCHEMA_FILE

    with open(SCHEMA_FILE) as f:
        curated = f.read()
    folder = synthetic_imdb.write_folder(str(tmp_path / "data"), per_class=10)
    result = python("-m", "pipeline.schema_proposal", "--data", folder, "--output-dir", str(tmp_path / "outputs"),
                    timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    proposal = tmp_path / "outputs" / "schema" / "proposed_schema.pbtxt"
    assert 'name: "rating"' in proposal.read_text()
    # On a small drop inference makes `text` categorical: the diff shows it, for a person to refuse.
    assert "--- components/schema/schema.pbtxt (curated)" in result.stdout and "+string_domain {" in result.stdout
    with open(SCHEMA_FILE) as f:
        assert f.read() == curated
