"""The multi-replica path (MirroredStrategy) without GPUs: the Trainer code that mirrors over a GPU
node's GPUs, over two logical CPUs (tests/replica_training.py), beside a one-device run on the same
Transform output. The global batch is the per-replica batch times the replicas, the exported model
serves, and its test accuracy is within 0.05 of the one-device model's: the data is separable, so
both learn it nearly perfectly when trained to convergence (12 epochs: with 4 the two-replica model,
taking half as many steps, had not converged, 0.825 against 0.9875); the order of float sums may
still move a few borderline reviews of the 80 (0.05 is 4 of them)."""

from __future__ import annotations

import os

import pytest

import synthetic_imdb
from commands import python_json

pytestmark = pytest.mark.e2e
SCRIPT = os.path.join(os.path.dirname(__file__), "replica_training.py")


def _train(replicas: int, data: str, workdir) -> dict:
    return python_json(SCRIPT, "--replicas", str(replicas), "--data", data, "--workdir", str(workdir), timeout=900)


def test_two_replicas_train_under_mirrored_strategy_and_match_one_device(tmp_path):
    data = synthetic_imdb.write_folder(str(tmp_path / "data"), per_class=40)
    one = _train(1, data, tmp_path / "work")
    two = _train(2, data, tmp_path / "work")
    assert (one["strategy"], one["replicas"], one["global_batch_size"]) == ("OneDeviceStrategy", 1, 8)
    assert (two["strategy"], two["replicas"], two["global_batch_size"]) == ("MirroredStrategy", 2, 16)
    assert len(two["devices"]) == 2 and two["devices"][0] != two["devices"][1]
    assert one["test_reviews"] == two["test_reviews"] == 80
    assert one["accuracy"] >= 0.9, one
    assert abs(one["accuracy"] - two["accuracy"]) <= 0.05, (one, two)
