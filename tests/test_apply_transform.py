"""ApplyTransform beside TFX's own Transform on LocalDagRunner: the same transformed rows as Transform's
writer, but a file for each of ExampleGen's files (their number grows with the split) in its order."""

from __future__ import annotations

import collections
import glob
import os

import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

import example_gen_runs
from common import features
from components import apply_transform, text_vectorization
from components.curated_schema import CuratedSchemaGen
from components.imdb_example_gen import ImdbExampleGen
from pipeline import pipeline

SHARD_SIZE = 15  # reviews per ExampleGen file: the 64 training reviews make 5 files
SPLITS = [features.TRAIN_SPLIT, features.EVAL_SPLIT]


@pytest.fixture(scope="module")
def outputs(imdb_folder, tmp_path_factory):
    """{node: its output artifact's uri}, the ragged n-gram bag and the dense word ids both written."""
    example_gen = ImdbExampleGen(input_base=imdb_folder, eval_fraction=0.2, sample_fraction=1.0,
                                 reviews_per_shard=SHARD_SIZE)
    schema = CuratedSchemaGen(schema_file=pipeline.SCHEMA_FILE).with_id("ImportSchemaGen")
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
        preprocessing_fn=pipeline.PREPROCESSING_FN, disable_statistics=True, disable_analyzer_cache=True,
        splits_config=tfx.proto.SplitsConfig(analyze=[features.TRAIN_SPLIT], transform=SPLITS),
        custom_config={text_vectorization.MAX_TOKENS_KEY: 200, text_vectorization.SEQUENCE_LENGTH_KEY: 48,
                       text_vectorization.NGRAMS_KEY: 2, text_vectorization.ENCODING_KEY: features.BAG_AND_WORDS_ENCODING,
                       text_vectorization.WORD_MAX_TOKENS_KEY: 100, text_vectorization.WORD_SEQUENCE_LENGTH_KEY: 20})
    applied = apply_transform.ApplyTransform(examples=example_gen.outputs["examples"],
                                             transform_graph=transform.outputs["transform_graph"], splits=SPLITS)
    workdir = str(tmp_path_factory.mktemp("apply_transform"))
    store = example_gen_runs.run_pipeline("apply_transform", workdir, [example_gen, schema, transform, applied])
    [examples, *transformed] = sorted(store.get_artifacts_by_type("Examples"), key=lambda a: a.id)
    [graph] = store.get_artifacts_by_type("TransformGraph")
    ours = next(a for a in transformed if "ApplyTransform" in a.uri)
    theirs = next(a for a in transformed if a is not ours)
    return {"examples": examples.uri, "graph": graph.uri, "ours": ours, "theirs": theirs.uri}


def _files(uri: str, split: str):
    return sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*")))


def _rows(paths, spec):
    """Each record of PATHS, in order, as a hashable row of its features' values."""
    rows = []
    for path in paths:
        for batch in tf.data.TFRecordDataset(path, compression_type="GZIP").batch(256):
            parsed = tf.io.parse_example(batch, spec)
            columns = [parsed[name].numpy().tolist() if not isinstance(parsed[name], tf.RaggedTensor)
                       else parsed[name].to_list() for name in sorted(spec)]
            rows += [tuple(repr(value) for value in row) for row in zip(*columns)]
    return rows


def test_a_transformed_file_for_each_input_file_in_its_order(outputs):
    spec = tft.TFTransformOutput(outputs["graph"]).transformed_feature_spec()
    assert isinstance(spec[features.TOKEN_IDS], tf.io.RaggedFeature)  # both kinds of row are written
    assert isinstance(spec[features.WORD_IDS], tf.io.FixedLenFeature)
    assert outputs["ours"].properties["split_names"].string_value == '["train", "eval"]'
    label = sorted(spec).index(features.LABEL)
    counts = {}
    for split in SPLITS:
        inputs, written = _files(outputs["examples"], split), _files(outputs["ours"].uri, split)
        counts[split] = len(written)
        assert [os.path.basename(p) for p in written] == [
            f"transformed_examples-{i:05d}-of-{len(inputs):05d}.gz" for i in range(len(inputs))], split
        for source, target in zip(inputs, written):  # the labels file for file, in order: still interleaved
            raw = _rows([source], {features.LABEL: tf.io.FixedLenFeature([], tf.int64)})
            assert [row[label] for row in _rows([target], spec)] == [row[0] for row in raw], (split, target)
    assert counts[features.TRAIN_SPLIT] == 5, counts  # ceil(64 / 15): several files, as ExampleGen wrote


def test_the_rows_are_those_transforms_own_writer_wrote(outputs):
    spec = tft.TFTransformOutput(outputs["graph"]).transformed_feature_spec()
    for split in SPLITS:
        theirs = _rows(_files(outputs["theirs"], split), spec)
        ours = _rows(_files(outputs["ours"].uri, split), spec)
        assert len(ours) == len(theirs) > 0
        assert collections.Counter(ours) == collections.Counter(theirs), split


def test_a_split_the_examples_lack_is_named(outputs, tmp_path):
    executor = apply_transform.Executor()
    examples = tfx.types.standard_artifacts.Examples()
    examples.uri, examples.split_names = outputs["examples"], '["train", "eval", "test"]'
    graph = tfx.types.standard_artifacts.TransformGraph()
    graph.uri = outputs["graph"]
    out = tfx.types.standard_artifacts.Examples()
    out.uri = str(tmp_path / "out")
    with pytest.raises(ValueError, match="has no split train_2"):
        executor.Do({"examples": [examples], "transform_graph": [graph]}, {"transformed_examples": [out]},
                    {"splits": '["train_2"]'})
    assert not os.path.exists(out.uri)  # nothing written
