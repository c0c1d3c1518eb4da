"""ApplyTransform: Transform's graph applied to each file of ExampleGen's splits, a file out per file in.

TFX 1.21's Transform writes a split's transformed examples with Beam's WriteToTFRecord and no shard
count, so the runner decides how many files: one a split in process (docs/scaling.md), which a runner
then reads in one task however large the split grows. Here Transform only analyzes (`materialize=False`)
and this component writes the examples. The rule: one transformed file for each of ExampleGen's files,
its reviews in the same order. So their number grows with the split as ExampleGen's does
(`executor.shard_count`, 10,000 reviews a file: about 18 MB gzipped after Transform), the classes stay
interleaved in every file as ExampleGen wrote them without a shuffle to undo it, and a retried file is
written again the same. The files are spread over the runner's workers (on Flink, its TaskManagers).
It uses TFT's public reading of a transform graph (`TFTransformOutput`) and its coder, so its rows are
those Transform's own writer writes (tests/test_apply_transform.py compares them).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Tuple

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
from tfx import types
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.types import artifact_utils, component_spec, standard_artifacts

from components import code_version

EXAMPLES_KEY = "examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
TRANSFORMED_EXAMPLES_KEY = "transformed_examples"  # Transform's own name for the same output
SPLITS_KEY = "splits"  # a JSON list of split names
FILE_PREFIX = "transformed_examples"  # Transform's own file names, one per input file
BATCH_SIZE = 1024  # reviews transformed per call of the graph


def output_files(input_files: List[str], output_dir: str) -> List[Tuple[str, str]]:
    """Each input file (in name order) paired with its output file, numbered as Beam numbers shards."""
    count = len(input_files)
    return [(path, os.path.join(output_dir, f"{FILE_PREFIX}-{index:05d}-of-{count:05d}.gz"))
            for index, path in enumerate(sorted(input_files))]


def _rows(batch: Dict[str, Any], keys: Dict[str, str]) -> Iterator[Dict[str, Any]]:
    """A transformed batch as one dict a review, what ExampleProtoCoder encodes: a ragged feature's row as
    its values (under the key the schema stores them by), a dense one's row as it is."""
    columns = {}
    for name, key in keys.items():
        value = batch[name]
        if isinstance(value, tf.RaggedTensor):
            values, splits = value.flat_values.numpy(), value.row_splits.numpy()
            columns[key] = [values[start:end] for start, end in zip(splits[:-1], splits[1:])]
        else:
            columns[key] = list(value.numpy())
    for row in zip(*columns.values()):
        yield dict(zip(columns, row))


def coder_keys(feature_spec: Dict[str, Any]) -> Dict[str, str]:
    """{transformed feature: the key ExampleProtoCoder encodes it by}: a ragged feature's values key. Only
    the rows a tf.Example holds as one list of values (dense, or ragged in one dimension) are written."""
    keys = {}
    for name, spec in sorted(feature_spec.items()):
        if isinstance(spec, tf.io.FixedLenFeature):
            keys[name] = name
        elif isinstance(spec, tf.io.RaggedFeature) and not spec.partitions:
            keys[name] = spec.value_key or name
        else:
            raise ValueError(f"transformed feature {name!r} is {spec}: this writer encodes dense features "
                             "and ragged ones of one ragged dimension")
    return keys


class _TransformFile(beam.DoFn):
    """One input file to one output file, its records in order; written beside and renamed when whole,
    so a retried bundle rewrites it and a reader never sees half of one."""

    def __init__(self, transform_graph_uri: str):
        self._transform_graph_uri = transform_graph_uri

    def setup(self):
        self._output = tft.TFTransformOutput(self._transform_graph_uri)
        self._raw_spec = self._output.raw_feature_spec()
        self._coder = tft.coders.ExampleProtoCoder(self._output.transformed_metadata.schema)
        self._keys = coder_keys(self._output.transformed_feature_spec())

    def process(self, paths: Tuple[str, str]) -> Iterator[str]:
        source, target = paths
        tf.io.gfile.makedirs(os.path.dirname(target))
        records = tf.data.TFRecordDataset(source, compression_type="GZIP").batch(BATCH_SIZE)
        with tf.io.TFRecordWriter(f"{target}.tmp", options="GZIP") as writer:
            for serialized in records:
                raw = tf.io.parse_example(serialized, self._raw_spec)
                transformed = self._output.transform_raw_features(raw, drop_unused_features=True)
                for row in _rows(transformed, self._keys):
                    writer.write(self._coder.encode(row))
        tf.io.gfile.rename(f"{target}.tmp", target, overwrite=True)
        yield target


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        graph_uri = artifact_utils.get_single_uri(input_dict[TRANSFORM_GRAPH_KEY])
        output = artifact_utils.get_single_instance(output_dict[TRANSFORMED_EXAMPLES_KEY])
        splits = json.loads(exec_properties[SPLITS_KEY])
        missing = sorted(set(splits) - set(artifact_utils.decode_split_names(examples.split_names)))
        if missing:
            raise ValueError(f"{EXAMPLES_KEY} at {examples.uri} has no split {', '.join(missing)}")
        output.split_names = artifact_utils.encode_split_names(splits)
        jobs = []
        for split in splits:
            files = tf.io.gfile.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*"))
            if not files:
                raise ValueError(f"split {split!r} of {examples.uri} has no files")
            jobs += output_files(files, artifact_utils.get_split_uri([output], split))
        with self._make_beam_pipeline() as pipeline:
            _ = (pipeline
                 | "Files" >> beam.Create(jobs)
                 | "Spread" >> beam.Reshuffle()  # each file to any worker, not all to the one that listed them
                 | "Transform" >> beam.ParDo(_TransformFile(graph_uri)))


class ApplyTransformSpec(component_spec.ComponentSpec):
    PARAMETERS = {SPLITS_KEY: component_spec.ExecutionParameter(type=str),
                  code_version.CODE_FINGERPRINT_KEY: code_version.parameter()}
    INPUTS = {EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
              TRANSFORM_GRAPH_KEY: component_spec.ChannelParameter(type=standard_artifacts.TransformGraph)}
    OUTPUTS = {TRANSFORMED_EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples)}


class ApplyTransform(base_beam_component.BaseBeamComponent):
    """Writes SPLITS of EXAMPLES through TRANSFORM_GRAPH, a transformed file for each file of theirs."""

    SPEC_CLASS = ApplyTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, transform_graph: types.BaseChannel, splits: List[str],
                 code_fingerprint: str = ""):
        super().__init__(spec=ApplyTransformSpec(
            examples=examples, transform_graph=transform_graph, splits=json.dumps(list(splits)),
            code_fingerprint=code_fingerprint,
            transformed_examples=types.Channel(type=standard_artifacts.Examples)))
