"""Shared fixtures: small data sets in the aclImdb layout, and the real data when IMDB_DATA is set."""

from __future__ import annotations

import functools
import os
import shutil

import pytest

import synthetic_imdb
from common import features
from corpus import CORPUS, CORPUS_MAX_TOKENS, CORPUS_SEQUENCE_LENGTH


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs the whole pipeline on LocalDagRunner (about a minute)")
    config.addinivalue_line("markers", "real_data: needs IMDB_DATA, the real aclImdb data")
    config.addinivalue_line("markers", "slow: builds the container image with podman (minutes)")


# Run last: ./imdb test fetches or builds what they need (Flink job server, KFP, local cluster) meanwhile.
RUN_LAST = ("test_backend_rules.py", "test_flink_run.py", "test_container_image.py")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.path.name in RUN_LAST)  # stable: the order is otherwise kept


@pytest.fixture(scope="session")
def imdb_folder(tmp_path_factory) -> str:
    """A small aclImdb folder (40 reviews per class and subset) with the official extra files."""
    return synthetic_imdb.write_folder(str(tmp_path_factory.mktemp("imdb")), per_class=40)


@pytest.fixture(scope="session")
def imdb_archive(imdb_folder, tmp_path_factory) -> str:
    return synthetic_imdb.write_archive(str(tmp_path_factory.mktemp("archive") / "aclImdb_v1.tar.gz"), imdb_folder)


@pytest.fixture(scope="session")
def real_data() -> str:
    path = os.environ.get("IMDB_DATA")
    if not path:
        pytest.skip("IMDB_DATA is not set (the real aclImdb data)")
    return path


def _run_transform(out, ngrams=1, max_tokens=CORPUS_MAX_TOKENS, encoding=features.SEQUENCE_ENCODING, **more_config):
    """Transform's real output (vocabulary and graph) for CORPUS, via tft_beam."""
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from components import text_vectorization

    spec = {features.TEXT: tf.io.FixedLenFeature([1], tf.string), features.LABEL: tf.io.FixedLenFeature([1], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{features.TEXT: [text.encode()], features.LABEL: [i % 2]} for i, text in enumerate(CORPUS)]
    fn = functools.partial(text_vectorization.preprocessing_fn, custom_config={
        text_vectorization.MAX_TOKENS_KEY: max_tokens, text_vectorization.SEQUENCE_LENGTH_KEY: CORPUS_SEQUENCE_LENGTH,
        text_vectorization.NGRAMS_KEY: ngrams, text_vectorization.ENCODING_KEY: encoding, **more_config})
    with tft_beam.Context(temp_dir=str(out / "tmp")):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "transform_output"))
    return str(out / "transform_output"), transformed


@pytest.fixture(scope="session")
def transform_output(tmp_path_factory):
    return _run_transform(tmp_path_factory.mktemp("transform"))


@pytest.fixture(scope="session")
def bigram_transform_output(tmp_path_factory):
    return _run_transform(tmp_path_factory.mktemp("bigram_transform"), ngrams=2)


@pytest.fixture(scope="session")
def naive_bayes_transform_output(tmp_path_factory):
    """The nb_ngrams encoding of CORPUS: words and pairs, a vocabulary larger than the corpus'."""
    return _run_transform(tmp_path_factory.mktemp("naive_bayes_transform"), ngrams=2, max_tokens=200,
                          encoding=features.NAIVE_BAYES_BAG_ENCODING)


@pytest.fixture(scope="session")
def blended_transform_output(tmp_path_factory):
    """nb_bilstm's encoding of CORPUS: naive_bayes_transform_output's bag, and the words as transform_output's."""
    from components import text_vectorization

    return _run_transform(tmp_path_factory.mktemp("blended_transform"), ngrams=2, max_tokens=200,
                          encoding=features.BAG_AND_WORDS_ENCODING,
                          **{text_vectorization.WORD_MAX_TOKENS_KEY: CORPUS_MAX_TOKENS,
                             text_vectorization.WORD_SEQUENCE_LENGTH_KEY: CORPUS_SEQUENCE_LENGTH})


@pytest.fixture
def checkout(tmp_path):
    """A copy of the project's packages, for tests that edit them (what pipeline/fingerprints.py reads)."""
    from pipeline import fingerprints

    for entry in fingerprints.PROJECT_PACKAGES:
        if (fingerprints.REPO / entry).is_dir():
            shutil.copytree(fingerprints.REPO / entry, tmp_path / entry)
    return tmp_path


@pytest.fixture(scope="session")
def served_model(transform_output, tmp_path_factory) -> str:
    """A small trained model with the pipeline's signatures, for the tests of serving it."""
    import served_models

    return served_models.export_model(transform_output, str(tmp_path_factory.mktemp("served") / "model"), seed=1,
                                      epochs=1)
