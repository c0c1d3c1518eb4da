"""The scale benchmark's own parts: the archives it writes, the memory it samples, the exponents it fits."""

import json
import math
import os
import subprocess
import sys
import tarfile
import time

import pytest

from benchmarks import scaling
from synthetic_imdb import tar_gz

POOL = 6  # real reviews per (split, label) in the archive below


@pytest.fixture(scope="module")
def source_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "aclImdb.tar.gz"
    unlabeled = [("aclImdb/README", b""), ("aclImdb/train/unsup/0_0.txt", b"")]  # not labeled reviews: left out
    path.write_bytes(tar_gz(unlabeled + [
        (f"aclImdb/{split}/{label}/{i}_{rating}.txt", f"{split} {label} review {i}".encode())
        for split in ("train", "test") for label, rating in (("pos", 9), ("neg", 2)) for i in range(POOL)]))
    return str(path)


def _members(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def test_a_smaller_archive_samples_each_quarter_evenly(source_archive, tmp_path):
    out = tmp_path / "small.tar.gz"
    scaling.write_archive(scaling.read_reviews(source_archive), 12, str(out))
    members = _members(out)
    assert len(members) == 12
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            names = sorted(n for n in members if n.startswith(f"aclImdb/{split}/{label}/"))
            assert [n.rsplit("/", 1)[1] for n in names] == [f"{i}_{9 if label == 'pos' else 2}.txt" for i in (0, 2, 4)]
            assert all(members[n] == f"{split} {label} review {n.rsplit('/', 1)[1].split('_')[0]}".encode()
                       for n in names)


def test_a_larger_archive_reuses_the_reviews_under_new_ids(source_archive, tmp_path):
    out = tmp_path / "large.tar.gz"
    scaling.write_archive(scaling.read_reviews(source_archive), 4 * POOL * 3 - 8, str(out))  # 2 copies and a part
    members = _members(out)
    assert len(members) == 4 * POOL * 3 - 8
    names = [n.rsplit("/", 1)[1] for n in members if n.startswith("aclImdb/test/neg/")]
    assert len(names) == len(set(names)) == POOL * 3 - 2
    assert "5_2.txt" in names and "1000005_2.txt" in names and "2000003_2.txt" in names
    assert members["aclImdb/test/neg/2000003_2.txt"] == members["aclImdb/test/neg/3_2.txt"] == b"test neg review 3"


def test_refuses_what_it_cannot_make(source_archive, tmp_path):
    with pytest.raises(ValueError, match="multiple of 4"):
        scaling.write_archive(scaling.read_reviews(source_archive), 10, str(tmp_path / "x.tar.gz"))
    assert not os.listdir(tmp_path)
    not_imdb = tmp_path / "other.tar.gz"
    not_imdb.write_bytes(tar_gz([("data/a.txt", b"")]))
    with pytest.raises(ValueError, match="not an aclImdb archive"):
        scaling.read_reviews(str(not_imdb))
    assert scaling.main(["--data", str(not_imdb), "--sizes", "12", "--runners", "direct",
                         "--work-dir", str(tmp_path / "work"), "--results", str(tmp_path / "r.json")]) == 2
    assert scaling.main(["--data", source_archive, "--runners", "spark"]) == 2


def test_the_memory_of_a_run_includes_its_child_processes():
    """A Flink run's job server is a JVM started by the pipeline: its memory counts."""
    grandchild = ("import time; block = bytearray(300 * 2**20); block[::4096] = b'x' * len(block[::4096]); "
                  "print('ready', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
                              f"{grandchild!r}])"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        assert scaling._tree_rss_mb([child.pid]) > 300
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.7])
def test_fit_exponent_recovers_a_power_law(exponent):
    points = [(size, 3.0 * size ** exponent) for size in scaling.SIZES]
    assert scaling.fit_exponent(points) == pytest.approx(exponent)


def test_fit_exponent_of_n_log_n_is_above_one():
    """What a sort-bound step looks like on the curve: slightly superlinear."""
    points = [(size, size * math.log(size)) for size in scaling.SIZES]
    assert 1.05 < scaling.fit_exponent(points) < 1.15


def test_a_failed_point_is_reported_by_name_and_the_points_before_it_are_kept(source_archive, tmp_path, monkeypatch,
                                                                               capsys):
    """The pipeline really runs, in its own process, and fails on a runner Beam does not know."""
    monkeypatch.setitem(scaling.RUNNERS, "no-such", ["--runner=NoSuchRunner"])
    results = tmp_path / "r.json"
    earlier = '[{"size": 8, "runner": "direct", "components": {}}]'
    results.write_text(earlier)
    doc = tmp_path / "scaling.md"
    assert scaling.main(["--data", source_archive, "--sizes", "12", "--runners", "no-such", "--work-dir",
                         str(tmp_path / "work"), "--results", str(results), "--doc", str(doc)]) == 1
    error = capsys.readouterr().err
    assert f"error: the pipeline failed on 12 reviews (no-such); its output: {tmp_path}/work/no-such-12.log" in error
    assert "Traceback" not in error
    assert results.read_text() == earlier and not doc.exists() and not (tmp_path / "images").exists()


def test_a_point_records_each_component_and_removes_its_run(source_archive, tmp_path):
    """The pipeline really runs, in its own process, on the runner in process."""
    work, results, doc = tmp_path / "work", tmp_path / "r.json", tmp_path / "docs" / "scaling.md"
    assert scaling.main(["--data", source_archive, "--sizes", "24", "--runners", "direct", "--work-dir", str(work),
                         "--results", str(results), "--doc", str(doc)]) == 0
    [point] = json.loads(results.read_text())
    components = point["components"]
    assert {"ImdbExampleGen", "Transform", "ApplyTransform", "Trainer", "Evaluator", "Pusher"} <= set(components)
    for name in ("ImdbExampleGen", "Transform", "ApplyTransform", "Trainer"):  # examples, graph, transformed, model
        assert components[name]["mb_written"] > 0 and components[name]["seconds"] > 0
    assert sorted(os.listdir(work)) == ["aclImdb-24.tar.gz", "direct-24.log"]  # the run's outputs are removed
    [row] = [line for line in doc.read_text().splitlines() if line.startswith("| ImdbExampleGen | ")]
    assert ", wrote " in row
    assert (tmp_path / "docs" / "images" / "scaling.png").stat().st_size > 0


def test_flink_points_split_the_training_reviews_past_what_one_source_can_send():
    assert scaling.train_parts(1_000_000, "flink-cluster") == ["--train-parts", "2"]  # 400,000 training reviews
    assert scaling.train_parts(500_000, "flink-cluster") == []  # 200,000: one split
    assert scaling.train_parts(1_000_000, "direct") == []  # in process, no such limit
