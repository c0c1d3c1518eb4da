"""Runs ImdbExampleGen alone on LocalDagRunner and reads back what it wrote."""

from __future__ import annotations

import glob
import os
from typing import Dict, List

import tensorflow as tf
from ml_metadata import metadata_store
from tfx import v1 as tfx

from common import features
from components.imdb_example_gen import ImdbExampleGen
from pipeline import configs

SPLITS = (features.TRAIN_SPLIT, features.EVAL_SPLIT, features.TEST_SPLIT)
_SPEC = {
    features.TEXT: tf.io.FixedLenFeature([], tf.string),
    features.LABEL: tf.io.FixedLenFeature([], tf.int64),
    features.REVIEW_ID: tf.io.FixedLenFeature([], tf.int64),
    features.RATING: tf.io.FixedLenFeature([], tf.int64),
}


def run(data: str, workdir: str, eval_fraction: float = configs.DEFAULT_EVAL_FRACTION, sample_fraction: float = 1.0):
    """Returns ({split: {name: numpy array}}, the Examples artifact's custom properties)."""
    root, db = os.path.join(workdir, "root"), os.path.join(workdir, "metadata.db")
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(db)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="example_gen", pipeline_root=root,
        components=[ImdbExampleGen(input_base=data, eval_fraction=eval_fraction, sample_fraction=sample_fraction)],
        metadata_connection_config=connection))
    [artifact] = metadata_store.MetadataStore(connection).get_artifacts_by_type("Examples")
    splits = {}
    for split in SPLITS:
        files = glob.glob(os.path.join(artifact.uri, f"Split-{split}", "*.gz"))
        columns: Dict[str, List] = {name: [] for name in _SPEC}
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
            for name, values in tf.io.parse_example(batch, _SPEC).items():
                columns[name].extend(values.numpy().tolist())
        splits[split] = columns
    properties = {k: v.int_value for k, v in artifact.custom_properties.items() if v.HasField("int_value")}
    return splits, properties
