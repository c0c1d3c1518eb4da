"""The run report: one static page per run, `<output>/reports/<run>/index.html`.

What a person judges a model by (training curves, the gate's decision, confusion matrix, accuracy
by rating, the data, where the time went) is read back from the run's artifacts and ML Metadata
(run_summary). Its pictures are inline (SVG), so the page opens offline, from a copy, anywhere.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import tempfile
from typing import Dict, List, Optional

import jinja2

from common import features
from pipeline import report_charts, run_summary

INDEX = "index.html"
DATA = "report.json"
_TEMPLATE_DIR = os.path.join(os.path.dirname(__file__), "templates")


@dataclasses.dataclass
class Confusion:
    """At the 0.5 threshold; positive = a positive review."""

    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int


@dataclasses.dataclass
class RatingSlice:
    rating: int
    reviews: int
    accuracy: float


@dataclasses.dataclass
class Evaluation:
    """The Evaluator's figures on the test split, for the candidate (and the served baseline)."""

    accuracy: Optional[float] = None
    auc: Optional[float] = None
    reviews: Optional[int] = None
    baseline_accuracy: Optional[float] = None
    confusion: Optional[Confusion] = None
    by_rating: List[RatingSlice] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SplitData:
    reviews_by_label: Dict[str, int]  # "negative" / "positive"
    words: List[int]  # words per review (whitespace-separated), for the length distribution


@dataclasses.dataclass
class RunReport:
    run: str
    summary: run_summary.RunSummary
    history: Dict = dataclasses.field(default_factory=dict)  # the Trainer's history.json
    evaluation: Evaluation = dataclasses.field(default_factory=Evaluation)
    splits: Dict[str, SplitData] = dataclasses.field(default_factory=dict)


def gather(run: str, summary: run_summary.RunSummary) -> RunReport:
    """Reads what the page shows from the artifacts the summary names."""
    return RunReport(run=run, summary=summary,
                     history=run_summary.read_history(summary.model_run),
                     evaluation=read_evaluation(summary.evaluation) if summary.evaluation else Evaluation(),
                     splits=read_splits(summary.examples) if summary.examples else {})


def read_evaluation(uri: str) -> Evaluation:
    """The overall and per-rating figures from TFMA's metrics file. With a served baseline, TFMA
    names the models "candidate" and "baseline"; without one, the single model's name is empty."""
    import tensorflow_model_analysis as tfma

    evaluation, by_rating = Evaluation(), {}
    for slice_metrics in tfma.load_metrics(uri):
        keys = slice_metrics.slice_key.single_slice_keys
        rating = keys[0].int64_value if len(keys) == 1 and keys[0].column == features.RATING else None
        if keys and rating is None:
            continue
        values: Dict[str, Dict[str, object]] = {}
        for entry in slice_metrics.metric_keys_and_values:
            if entry.key.is_diff:
                continue
            model = "baseline" if entry.key.model_name == "baseline" else "candidate"
            values.setdefault(model, {})[entry.key.name] = entry.value
        candidate = values.get("candidate", {})
        accuracy = _double(candidate.get("binary_accuracy"))
        count = _double(candidate.get("example_count"))
        if rating is not None:
            by_rating[rating] = RatingSlice(int(rating), int(count or 0), accuracy)
            continue
        evaluation.accuracy, evaluation.auc = accuracy, _double(candidate.get("auc"))
        evaluation.reviews = None if count is None else int(count)
        evaluation.baseline_accuracy = _double(values.get("baseline", {}).get("binary_accuracy"))
        evaluation.confusion = _confusion(candidate.get("confusion_matrix_at_thresholds"))
    evaluation.by_rating = [by_rating[r] for r in sorted(by_rating)]
    return evaluation


def _double(value) -> Optional[float]:
    if value is None or value.WhichOneof("type") != "double_value":
        return None
    return value.double_value.value


def _confusion(value) -> Optional[Confusion]:
    if value is None or value.WhichOneof("type") != "confusion_matrix_at_thresholds":
        return None
    for matrix in value.confusion_matrix_at_thresholds.matrices:
        if abs(matrix.threshold - 0.5) < 1e-6:
            return Confusion(int(matrix.true_positives), int(matrix.false_positives),
                             int(matrix.true_negatives), int(matrix.false_negatives))
    return None


def read_splits(examples_uri: str) -> Dict[str, SplitData]:
    """Reviews per class and words per review, from the examples every model of the run saw."""
    import tensorflow as tf

    spec = {features.TEXT: tf.io.FixedLenFeature([], tf.string), features.LABEL: tf.io.FixedLenFeature([], tf.int64)}
    order = [features.TRAIN_SPLIT, features.EVAL_SPLIT, features.TEST_SPLIT]
    present = [entry.rstrip("/")[len("Split-"):] for entry in tf.io.gfile.listdir(examples_uri)
               if entry.startswith("Split-")]
    splits = {}
    for split in sorted(present, key=lambda s: (order.index(s) if s in order else len(order), s)):
        files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
        dataset = (tf.data.TFRecordDataset(files, compression_type="GZIP").batch(2048)
                   .map(lambda batch: tf.io.parse_example(batch, spec)))
        labels, words = [], []
        for batch in dataset:
            labels.extend(batch[features.LABEL].numpy().tolist())
            words.extend(tf.strings.split(batch[features.TEXT]).row_lengths().numpy().tolist())
        splits[split] = SplitData({"negative": labels.count(0), "positive": labels.count(1)}, words)
    return splits


def render(report: RunReport) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined)
    return environment.get_template("run_report.html").render(
        report=report, summary=report.summary, evaluation=report.evaluation, charts=report_charts.Charts(report),
        created=datetime.datetime.now().isoformat(timespec="seconds"))


def write(report: RunReport, reports_dir: str) -> str:
    """Writes <reports_dir>/<run>/index.html (and the figures behind it as report.json) whole or
    not at all: the folder is built beside its final place and renamed into it."""
    final = os.path.join(reports_dir, report.run)
    os.makedirs(reports_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{report.run}.", dir=reports_dir)
    try:
        with open(os.path.join(staging, INDEX), "w") as out:
            out.write(render(report))
        # The page's figures, for a script rather than a person (the word counts left out).
        figures = {"run": report.run, "summary": dataclasses.asdict(report.summary),
                   "evaluation": dataclasses.asdict(report.evaluation),
                   "reviews": {split: data.reviews_by_label for split, data in report.splits.items()}}
        with open(os.path.join(staging, DATA), "w") as out:
            json.dump(figures, out, indent=1)
        os.chmod(staging, 0o755)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(final, INDEX)
