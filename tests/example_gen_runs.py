"""Runs components on LocalDagRunner: ImdbExampleGen alone, reading back what it wrote, or any others."""

from __future__ import annotations

import glob
import itertools
import os
from typing import Dict, List

import tensorflow as tf
from ml_metadata import metadata_store
from tfx import v1 as tfx

from common import features
from components.imdb_example_gen import ImdbExampleGen
from pipeline import configs

_SPEC = {name: tf.io.FixedLenFeature([], tf.string if name == features.TEXT else tf.int64)
         for name in (features.TEXT, features.LABEL, features.REVIEW_ID, features.RATING)}


def run_pipeline(name: str, workdir: str, components, **options) -> metadata_store.MetadataStore:
    """COMPONENTS as a pipeline on LocalDagRunner, its root and ML Metadata under WORKDIR: the metadata store."""
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(os.path.join(workdir, "metadata.db"))
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name=name, pipeline_root=os.path.join(workdir, "root"), components=components,
        metadata_connection_config=connection, **options))
    return metadata_store.MetadataStore(connection)


def execution_properties(workdir: str) -> Dict[str, int]:
    """The integer properties of the one execution run_pipeline recorded under WORKDIR (what its executor was given)."""
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(os.path.join(workdir, "metadata.db"))
    [execution] = metadata_store.MetadataStore(connection).get_executions()
    return {k: v.int_value for k, v in execution.custom_properties.items() if v.HasField("int_value")}


SHARD = "shard"  # a column of what run() returns: the name of the file each row was read from


def run(data: str, workdir: str, eval_fraction: float = configs.DEFAULT_EVAL_FRACTION, sample_fraction: float = 1.0,
        reviews_per_shard=None, train_parts: int = 1, reviews_per_read=None):
    """Returns ({split: {name: list, in the files' order}}, the Examples artifact's custom properties)."""
    store = run_pipeline("example_gen", workdir, [
        ImdbExampleGen(input_base=data, eval_fraction=eval_fraction, sample_fraction=sample_fraction,
                       reviews_per_shard=reviews_per_shard, train_parts=train_parts, reviews_per_read=reviews_per_read)])
    [artifact] = store.get_artifacts_by_type("Examples")
    splits = {}
    for split in (*features.train_splits(train_parts), features.EVAL_SPLIT, features.TEST_SPLIT):
        columns: Dict[str, List] = {name: [] for name in (*_SPEC, SHARD)}
        for path in sorted(glob.glob(os.path.join(artifact.uri, f"Split-{split}", "*"))):
            for batch in tf.data.TFRecordDataset(path, compression_type="GZIP").batch(4096):
                parsed = tf.io.parse_example(batch, _SPEC)
                for name, values in parsed.items():
                    columns[name].extend(values.numpy().tolist())
                columns[SHARD].extend([os.path.basename(path)] * len(parsed[features.LABEL]))
        splits[split] = columns
    properties = {k: v.int_value for k, v in artifact.custom_properties.items() if v.HasField("int_value")}
    return splits, properties


def shards(columns: Dict[str, List]) -> Dict[str, List[int]]:
    """{file name: its labels, in order} of one split that run() returned."""
    return {name: [label for _, label in rows] for name, rows in itertools.groupby(
        zip(columns[SHARD], columns[features.LABEL]), key=lambda row: row[0])}
