"""A pushed version directory appears whole or not at all."""

from __future__ import annotations

import os

import pytest
from tfx.utils import io_utils

from components import atomic_pusher


@pytest.fixture
def model_dir(tmp_path):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "variables.index").write_bytes(b"index")
    return str(model)


def test_publish_creates_a_numbered_complete_version(model_dir, tmp_path):
    base = str(tmp_path / "serving" / "imdb")
    path, version = atomic_pusher.publish_version(model_dir, base)
    assert path == os.path.join(base, version) and version.isdigit()
    assert sorted(os.listdir(path)) == ["saved_model.pb", "variables"]
    second, second_version = atomic_pusher.publish_version(model_dir, base)
    assert int(second_version) > int(version)  # two pushes in one second still get two versions


def test_a_copy_that_dies_half_way_leaves_no_version(model_dir, tmp_path, monkeypatch):
    base = str(tmp_path / "serving" / "imdb")
    real_copy = io_utils.copy_dir

    def copy_then_die(src, dst, *args, **kwargs):
        real_copy(src, dst, *args, **kwargs)
        os.remove(os.path.join(dst, "saved_model.pb"))  # as if killed before the last file
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(io_utils, "copy_dir", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        atomic_pusher.publish_version(model_dir, base)
    assert not [name for name in os.listdir(base) if name.isdigit()]  # TF Serving sees nothing

    monkeypatch.setattr(io_utils, "copy_dir", real_copy)
    path, _ = atomic_pusher.publish_version(model_dir, base)  # the next push still works
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
