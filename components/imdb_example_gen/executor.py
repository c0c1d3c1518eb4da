"""The Beam side of ImdbExampleGen: reviews in, tf.Examples out, on any Beam runner.

Each split is read by its own `layout.SplitSelector` pattern (`train[0:0.8]`, `test[0:1]`), the same on
every run and runner. Reviews that break the decoding rule are counted per split, beside the examples
(`ingestion_report-<split>.json`) and on the artifact. Each split is written in files mixing the classes.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Tuple

import apache_beam as beam
import apache_beam.io.fileio  # noqa: F401  (not imported by `import apache_beam`)
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from common import features
from components.imdb_example_gen import layout

REPORT_DIR_KEY = "_ingestion_report_dir"
ISSUES = ("empty", "invalid_utf8")
_ISSUES_TAG = "issues"


def _to_example(review: layout.RawReview, text: str) -> tf.train.Example:
    feature = {features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")]))}
    for name, value in ((features.LABEL, review.label), (features.REVIEW_ID, review.review_id),
                        (features.RATING, review.rating)):
        feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


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
    try:
        content = readable.read()
    except (OSError, tf.errors.OpError) as error:
        raise layout.DataLayoutError(f"IMDB review file {path!r} cannot be read ({error}).") from error
    return layout.parse_review_path(path, content)


def _write_report(counts: Dict[str, int], path: str) -> None:
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as out:
        json.dump({issue: counts.get(issue, 0) for issue in ISSUES}, out)
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


REVIEWS_PER_SHARD = 10_000
REVIEWS_PER_SHARD_KEY = "reviews_per_shard"
# Reviews each read of an archive passes on: Beam 2.62's Flink runner makes a task's input one bundle,
# and a bundle that sends back more than about a gigabyte never ends (docs/scaling.md, "A Flink session
# cluster"); 250,000 reviews are about 360 MB. Each part is a source of its own, so a runner reads them
# in parallel, but each reads the gzip stream from its start: 4 parts of a million reviews decompress
# it 2.5 times over.
REVIEWS_PER_READ = 250_000
REVIEWS_PER_READ_KEY = "reviews_per_read"
REVIEWS_KEY = "reviews"  # in the archive, counted when it is validated (the driver, or Do without one)


def shard_count(reviews: int, reviews_per_shard: int) -> int:
    """A runner reads a gzipped file in one task, so a split needs several files to be read in parallel,
    each bounded as the data grows: Beam 2.62's Flink runner feeds a task's file as one bundle, which
    stalled past about a gigabyte (docs/scaling.md). 10,000 reviews: ~13 MB, 26 MB after Transform."""
    return max(1, -(-reviews // reviews_per_shard))


def _keyed(example: tf.train.Example, shards: int) -> Tuple[int, Tuple[Tuple[float, int], bytes]]:
    """Both classes number their reviews 0..n-1 and share positions (layout.position): keyed by id,
    each id's pair of reviews shares a shard, which, in position order, alternates the classes."""
    feature = example.features.feature
    review_id = feature[features.REVIEW_ID].int64_list.value[0]
    order = (layout.position(review_id), feature[features.LABEL].int64_list.value[0])
    return review_id % shards, (order, example.SerializeToString())


def _write_shard(shard: Tuple[int, Dict[str, List[Any]]], prefix: str) -> str:
    index, grouped = shard
    [shards] = grouped["shards"]
    path = f"{prefix}-{index:05d}-of-{shards:05d}.gz"
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(f"{path}.tmp", options="GZIP") as writer:
        for _, record in sorted(grouped["records"], key=lambda keyed: keyed[0]):
            writer.write(record)
    tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)
    return path


@beam.ptransform_fn
def _WriteShards(examples: beam.pvalue.PCollection, split_dir: str, reviews_per_shard: int) -> beam.pvalue.PCollection:
    """A split as `shard_count` files, each mixing the classes in an order the same on every run and runner
    (TFX's writer reshuffles, leaves the file count to the runner, and, read as listed, gives a split class
    by class: long runs of one class in training). A shard is grouped whole: its size bounds a worker's memory."""
    shards = (examples
              | "Count" >> beam.combiners.Count.Globally()
              | "Shards" >> beam.Map(shard_count, reviews_per_shard))
    records = examples | "Key" >> beam.Map(_keyed, beam.pvalue.AsSingleton(shards))
    indices = shards | "Indices" >> beam.FlatMap(lambda n: [(index, n) for index in range(n)])
    return ({"records": records, "shards": indices}  # every index, so an empty split still has a file
            | "Group" >> beam.CoGroupByKey()
            | "Write" >> beam.Map(_write_shard, os.path.join(split_dir, write_split.DEFAULT_TF_RECORD_FILE_NAME)))


@beam.ptransform_fn
def _ReviewsToExamples(reviews: beam.pvalue.PCollection, exec_properties: Dict[str, Any],
                       split_pattern: str) -> beam.pvalue.PCollection:
    """The reviews a split takes, as tf.Examples, with the decoding rule's counts reported."""
    selector = layout.SplitSelector.parse(split_pattern)
    outputs = (
        reviews
        | "Select" >> beam.Filter(selector.takes)
        | "Decode" >> beam.ParDo(_ReviewToExample()).with_outputs(_ISSUES_TAG, main="examples"))
    report_dir = exec_properties.get(REPORT_DIR_KEY)
    if report_dir:
        splits = json.loads(exec_properties[standard_component_specs.INPUT_CONFIG_KEY])["splits"]
        split = next(s["name"] for s in splits if s["pattern"] == split_pattern)
        report_path = os.path.join(report_dir, f"ingestion_report-{split}.json")
        _ = (
            outputs[_ISSUES_TAG]
            | "CountIssues" >> beam.combiners.Count.PerElement()
            | "AsDict" >> beam.combiners.ToDict()
            | "WriteReport" >> beam.Map(_write_report, report_path))
    return outputs["examples"]


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Generates the train/eval/test splits and records the decoding rule's counts."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _ImdbToExample

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: Dict[str, Any]) -> Dict[str, beam.pvalue.PCollection]:
        """An archive (a gzip stream, readable only from its start) is read once for all splits; folders
        keep the base class's per-split reading, which lists and opens only the files a split takes."""
        kind, root = layout.find_root(exec_properties[standard_component_specs.INPUT_BASE_KEY])
        if kind != "archive":
            return super().GenerateExamplesByBeam(pipeline, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        subsets = sorted({layout.SplitSelector.parse(split.pattern).subset for split in input_config.splits})
        per_read = exec_properties.get(REVIEWS_PER_READ_KEY) or REVIEWS_PER_READ
        parts = shard_count(exec_properties.get(REVIEWS_KEY) or 0, per_read)  # unknown count: one read
        reads = [pipeline
                 | f"Archive[{part}]" >> beam.Create([root])
                 | f"Stream[{part}]" >> beam.FlatMap(layout.read_archive_subsets, subsets, part * per_read,
                                                     None if part == parts - 1 else (part + 1) * per_read)
                 for part in range(parts)]
        reviews = reads | "Reads" >> beam.Flatten() | "Spread" >> beam.Reshuffle()
        return {split.name: reviews | f"ToExamples[{split.name}]" >> _ReviewsToExamples(exec_properties, split.pattern)
                for split in input_config.splits}

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        exec_properties = {**exec_properties, REPORT_DIR_KEY: examples.uri}
        if example_gen_utils.FINGERPRINT_PROPERTY_NAME not in exec_properties:
            # No driver ran (Kubeflow runs none): a bad path or layout fails here as in a local run.
            source = layout.locate(exec_properties[standard_component_specs.INPUT_BASE_KEY])
            exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = source.fingerprint
            exec_properties[REVIEWS_KEY] = source.reviews
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        examples.split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config))
        reviews_per_shard = exec_properties.get(REVIEWS_PER_SHARD_KEY) or REVIEWS_PER_SHARD
        # The base class's Do, with _WriteShards in place of TFX's writer, in its _make_beam_pipeline.
        with self._make_beam_pipeline() as pipeline:
            for split, split_examples in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                _ = split_examples | f"WriteSplit[{split}]" >> _WriteShards(
                    artifact_utils.get_split_uri([examples], split), reviews_per_shard)
        examples_utils.set_payload_format(examples, exec_properties[standard_component_specs.OUTPUT_DATA_FORMAT_KEY])
        examples_utils.set_file_format(examples, write_split.to_file_format_str(
            exec_properties[standard_component_specs.OUTPUT_FILE_FORMAT_KEY]))
        for split in artifact_utils.decode_split_names(examples.split_names):
            with tf.io.gfile.GFile(os.path.join(examples.uri, f"ingestion_report-{split}.json")) as f:
                for issue, count in json.load(f).items():
                    examples.set_int_custom_property(f"{split}_{issue}", count)
