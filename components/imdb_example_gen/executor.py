"""The Beam side of ImdbExampleGen: reviews in, tf.Examples out, on any Beam runner.

Each split is read by its own `SplitSelector` pattern (`train[0:0.8]`, `test[0:1]`): review files
are assigned to splits by a golden-ratio sequence over their ids (layout.SplitSelector), so the
split is the same on every run and every runner. Reviews that break the decoding rule are counted per split; the counts are written beside
the examples (`ingestion_report-<split>.json`) and onto the Examples artifact's custom properties.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Tuple

import apache_beam as beam
import apache_beam.io.fileio  # noqa: F401  (not imported by `import apache_beam`)
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from common import features
from components.imdb_example_gen import layout

REPORT_DIR_KEY = "_ingestion_report_dir"
ISSUES = ("empty", "invalid_utf8")
_ISSUES_TAG = "issues"


def _to_example(review: layout.RawReview, text: str) -> tf.train.Example:
    def int_feature(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])),
        features.LABEL: int_feature(review.label),
        features.REVIEW_ID: int_feature(review.review_id),
        features.RATING: int_feature(review.rating),
    }))


class _ReviewToExample(beam.DoFn):
    """Applies the decoding rule: examples go to the main output, rule breaks to `issues`."""

    def process(self, review: layout.RawReview) -> Iterable[Any]:
        text, issue = layout.decode_review(review.content)
        if issue:
            yield beam.pvalue.TaggedOutput(_ISSUES_TAG, issue)
        if text:
            yield _to_example(review, text)


def _read_folder_file(readable: beam.io.fileio.ReadableFile) -> layout.RawReview:
    path = readable.metadata.path
    return layout.parse_review_path(path, layout.read_review_file(path, readable.read))


def _write_report(counts: Dict[str, int], path: str) -> None:
    report = {issue: counts.get(issue, 0) for issue in ISSUES}
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as out:
        json.dump(report, out)
    tf.io.gfile.rename(tmp, path, overwrite=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ImdbToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                   split_pattern: str) -> beam.pvalue.PCollection:
    """One split of a folder: only the files the split takes are listed and read."""
    selector = layout.SplitSelector.parse(split_pattern)
    # The driver has validated the data already; here only its kind and root are needed.
    _, root = layout.find_root(exec_properties[standard_component_specs.INPUT_BASE_KEY])
    class_globs = [f"{root}/{selector.subset}/{polarity}/*_*.txt" for polarity in layout.CLASS_LABELS]
    reviews = (
        pipeline
        | "ClassFolders" >> beam.Create(class_globs)
        | "Match" >> beam.io.fileio.MatchAll()
        | "SelectFiles" >> beam.Filter(lambda match: selector.takes_path(match.path))
        | "Read" >> beam.io.fileio.ReadMatches()
        | "Parse" >> beam.Map(_read_folder_file))
    return reviews | "ToExamples" >> _ReviewsToExamples(exec_properties, split_pattern)


MIXING_BUCKETS = 1000


def _bucket(review: layout.RawReview) -> Tuple[int, layout.RawReview]:
    return int(layout.position(review.review_id) * MIXING_BUCKETS), review


def _alternating(bucket: Tuple[int, Iterable[layout.RawReview]]) -> List[layout.RawReview]:
    return sorted(bucket[1], key=lambda review: (layout.position(review.review_id), review.label))


@beam.ptransform_fn
def _InterleaveClasses(reviews: beam.pvalue.PCollection) -> beam.pvalue.PCollection:
    """Reviews in an order that mixes the classes, the same on every run and runner.

    Read as listed, a split comes out class by class (the archive's and the folders' order), and
    a Trainer whose shuffle buffer is smaller than the split then trains on long runs of one
    class. Both classes share the ids 0..n-1 and a split takes a range of golden-ratio positions
    (layout.position), so cutting that range into MIXING_BUCKETS slices gives groups holding as
    many reviews of each class, within one; each group is written in position order, the classes
    alternating. Whatever order a runner writes the groups in, any stretch of the output is mixed.
    A group holds a thousandth of a split: 20 reviews today, 1,000 for a million.
    """
    return (reviews
            | "Bucket" >> beam.Map(_bucket)
            | "Group" >> beam.GroupByKey()
            | "Alternate" >> beam.FlatMap(_alternating))


@beam.ptransform_fn
def _ReviewsToExamples(reviews: beam.pvalue.PCollection, exec_properties: Dict[str, Any],
                       split_pattern: str) -> beam.pvalue.PCollection:
    """The reviews a split takes, as tf.Examples, with the decoding rule's counts reported."""
    selector = layout.SplitSelector.parse(split_pattern)
    outputs = (
        reviews
        | "Select" >> beam.Filter(selector.takes)
        | "Interleave" >> _InterleaveClasses()
        | "Decode" >> beam.ParDo(_ReviewToExample()).with_outputs(_ISSUES_TAG, main="examples"))
    report_dir = exec_properties.get(REPORT_DIR_KEY)
    if report_dir:
        report_path = os.path.join(report_dir, f"ingestion_report-{_split_name(exec_properties, split_pattern)}.json")
        _ = (
            outputs[_ISSUES_TAG]
            | "CountIssues" >> beam.combiners.Count.PerElement()
            | "AsDict" >> beam.combiners.ToDict()
            | "WriteReport" >> beam.Map(_write_report, report_path))
    return outputs["examples"]


def _split_name(exec_properties: Dict[str, Any], split_pattern: str) -> str:
    input_config = json.loads(exec_properties[standard_component_specs.INPUT_CONFIG_KEY])
    return next(s["name"] for s in input_config["splits"] if s["pattern"] == split_pattern)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Generates the train/eval/test splits and records the decoding rule's counts."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _ImdbToExample

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: Dict[str, Any]) -> Dict[str, beam.pvalue.PCollection]:
        """An archive is a gzip stream that can only be read from its start, so it is read once
        for all splits (it was read once per split), and each split selects its reviews from that
        one pass. Folders keep the per-split reading of the
        base class, which lists and opens only the files a split takes."""
        kind, root = layout.find_root(exec_properties[standard_component_specs.INPUT_BASE_KEY])
        if kind != "archive":
            return super().GenerateExamplesByBeam(pipeline, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        subsets = sorted({layout.SplitSelector.parse(split.pattern).subset for split in input_config.splits})
        reviews = (
            pipeline
            | "Archive" >> beam.Create([root])
            | "Stream" >> beam.FlatMap(layout.read_archive_subsets, subsets)
            | "Spread" >> beam.Reshuffle())
        return {split.name: reviews | f"ToExamples[{split.name}]" >> _ReviewsToExamples(exec_properties, split.pattern)
                for split in input_config.splits}

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        exec_properties = {**exec_properties, REPORT_DIR_KEY: examples.uri}
        if example_gen_utils.FINGERPRINT_PROPERTY_NAME not in exec_properties:
            # No driver ran (Kubeflow runs none): validate here, so that a bad path or layout
            # fails the task with the same message as a local run, before any Beam work.
            source = layout.locate(exec_properties[standard_component_specs.INPUT_BASE_KEY])
            exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = source.fingerprint
        super().Do(input_dict, output_dict, exec_properties)
        for split in artifact_utils.decode_split_names(examples.split_names):
            with tf.io.gfile.GFile(os.path.join(examples.uri, f"ingestion_report-{split}.json")) as f:
                for issue, count in json.load(f).items():
                    examples.set_int_custom_property(f"{split}_{issue}", count)
