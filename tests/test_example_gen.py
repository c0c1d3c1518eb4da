"""ImdbExampleGen on each accepted layout gives the same examples, through TFX and Beam."""

from __future__ import annotations

import itertools
import os

import pytest

import example_gen_runs
import synthetic_imdb
from common import features
from components.imdb_example_gen import DataLayoutError
from components.imdb_example_gen import executor
from components.imdb_example_gen.executor import shard_count


def _ids(splits):
    return {split: sorted(zip(columns[features.LABEL], columns[features.REVIEW_ID], strict=True))
            for split, columns in splits.items()}


SHARD_SIZE = 15  # reviews per shard in these runs: 80 reviews of test/ make 6 files


@pytest.fixture(scope="module")
def folder_run(imdb_folder, tmp_path_factory):
    return example_gen_runs.run(imdb_folder, str(tmp_path_factory.mktemp("folder")), reviews_per_shard=SHARD_SIZE)


def test_splits_labels_and_features_from_a_folder(folder_run):
    splits, _ = folder_run
    ids = _ids(splits)
    assert len(ids[features.TEST_SPLIT]) == 80  # all of test/
    assert len(ids[features.TRAIN_SPLIT]) + len(ids[features.EVAL_SPLIT]) == 80  # train/, split
    assert not set(ids[features.TRAIN_SPLIT]) & set(ids[features.EVAL_SPLIT])
    test = splits[features.TEST_SPLIT]
    for label, rating in zip(test[features.LABEL], test[features.RATING], strict=True):
        assert (label == 1 and 7 <= rating <= 10) or (label == 0 and 1 <= rating <= 4)
    assert all(b"<br />" in text for text in test[features.TEXT])  # kept raw; Transform handles it


def test_each_split_is_written_in_shards_with_the_classes_interleaved_in_each(folder_run):
    """The Trainer's shuffle buffer (hparams) is smaller than a large split: the order ExampleGen
    writes must already mix the classes, from the first batch of every file on. The number of
    files follows the split's size (executor.shard_count), so a runner can read them in parallel."""
    splits, _ = folder_run
    for split, columns in splits.items():
        files = example_gen_runs.shards(columns)
        count = shard_count(len(columns[features.LABEL]), SHARD_SIZE)
        assert sorted(files) == [f"data_tfrecord-{i:05d}-of-{count:05d}.gz" for i in range(count)], split
        for name, labels in files.items():
            assert 0 < len(labels) <= SHARD_SIZE + 1, (split, name, len(labels))  # ids' pairs stay together
            longest_run = max(len(list(run)) for _, run in itertools.groupby(labels))
            assert longest_run <= 2 and abs(2 * sum(labels) - len(labels)) <= 1, (split, name, labels)


def test_archive_and_parent_folder_give_the_same_examples(folder_run, imdb_folder, imdb_archive, tmp_path):
    expected = _ids(folder_run[0])
    assert _ids(example_gen_runs.run(imdb_archive, str(tmp_path / "archive"))[0]) == expected
    assert _ids(example_gen_runs.run(os.path.dirname(imdb_folder), str(tmp_path / "parent"))[0]) == expected


def test_an_archive_read_in_parts_into_training_parts_gives_the_same_examples(folder_run, imdb_archive, tmp_path):
    """Each read of the archive a source of its own, each training part a split of its own: what Flink
    needs past a gigabyte per source (docs/scaling.md); the reviews are those of one read, one split."""
    expected = _ids(folder_run[0])
    parted = _ids(example_gen_runs.run(imdb_archive, str(tmp_path / "parts"), train_parts=3, reviews_per_read=7)[0])
    # The driver's count reached the executor, which makes ceil(160 / 7) = 23 reads of it (not one).
    assert example_gen_runs.execution_properties(str(tmp_path / "parts"))[executor.REVIEWS_KEY] == 160
    parts = [parted.pop(name) for name in features.train_splits(3)]
    assert parted == {name: expected[name] for name in (features.EVAL_SPLIT, features.TEST_SPLIT)}
    assert sorted(itertools.chain(*parts)) == expected[features.TRAIN_SPLIT]
    assert all(abs(len(part) - len(expected[features.TRAIN_SPLIT]) / 3) <= 3 for part in parts), [len(p) for p in parts]


def test_sample_fraction_keeps_a_deterministic_share(folder_run, imdb_folder, tmp_path):
    half, _ = example_gen_runs.run(imdb_folder, str(tmp_path / "half"), sample_fraction=0.5)
    full_ids, half_ids = _ids(folder_run[0]), _ids(half)
    assert set(half_ids[features.TEST_SPLIT]) <= set(full_ids[features.TEST_SPLIT])
    assert 20 <= len(half_ids[features.TEST_SPLIT]) <= 60


def test_invalid_utf8_is_repaired_and_empty_reviews_are_skipped_and_counted(tmp_path):
    folder = synthetic_imdb.write_folder(str(tmp_path / "data"), per_class=5)
    (tmp_path / "data/aclImdb/test/pos/100_9.txt").write_bytes(b"Loved it \xff\xfe so much")
    (tmp_path / "data/aclImdb/test/neg/101_2.txt").write_bytes(b"   ")
    splits, properties = example_gen_runs.run(folder, str(tmp_path / "run"))
    test = splits[features.TEST_SPLIT]
    assert len(test[features.LABEL]) == 11  # 10 + the repaired one; the empty one is skipped
    assert "Loved it \ufffd\ufffd so much".encode() in test[features.TEXT]
    assert properties["test_invalid_utf8"] == 1 and properties["test_empty"] == 1
    assert properties["train_empty"] == 0


def test_bad_path_fails_before_any_beam_work(tmp_path):
    with pytest.raises(DataLayoutError, match="does not exist"):
        example_gen_runs.run(str(tmp_path / "missing"), str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "root" / "ImdbExampleGen" / "examples")
