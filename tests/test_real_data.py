"""ImdbExampleGen on the real aclImdb data (IMDB_DATA), through TFX and Beam."""

from __future__ import annotations

import itertools

import pytest

import example_gen_runs
from common import features
from components.imdb_example_gen.executor import REVIEWS_PER_SHARD, shard_count

pytestmark = pytest.mark.real_data


def test_splits_of_the_real_data(real_data, tmp_path):
    splits, properties = example_gen_runs.run(real_data, str(tmp_path))
    sizes = {split: len(columns[features.LABEL]) for split, columns in splits.items()}

    assert sizes[features.TEST_SPLIT] == 25_000
    assert sizes[features.TRAIN_SPLIT] == pytest.approx(20_000, rel=0.01)
    assert sizes[features.EVAL_SPLIT] == pytest.approx(5_000, rel=0.01)
    assert sizes[features.TRAIN_SPLIT] + sizes[features.EVAL_SPLIT] == 25_000
    for split, columns in splits.items():
        assert sum(columns[features.LABEL]) / sizes[split] == pytest.approx(0.5, abs=0.01), split
        files = example_gen_runs.shards(columns)
        assert len(files) == shard_count(sizes[split], REVIEWS_PER_SHARD), split  # 3, 2 and 1 files
        for name, labels in files.items():
            assert max(len(list(run)) for _, run in itertools.groupby(labels)) <= 2, (split, name)
    assert not any(properties.values())  # the real data has no empty or non-UTF-8 review
