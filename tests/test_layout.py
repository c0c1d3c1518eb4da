"""Finding and validating the aclImdb layout, before any Beam work (what `./imdb run` says of bad
data, class folders and archives: tests/test_hostile_runs.py)."""

from __future__ import annotations

import os
import shutil
import tarfile

import pytest

import synthetic_imdb
from components.imdb_example_gen import layout

EXPECTED = {(s, p): 40 for s in ("train", "test") for p in ("pos", "neg")}


def test_folder_is_found_as_aclImdb_or_its_parent(imdb_folder):
    for path in (imdb_folder, os.path.dirname(imdb_folder), imdb_folder + "/"):
        source = layout.locate(path)
        assert (source.kind, source.counts) == ("folder", EXPECTED)  # unsup/, *.feat, urls_*.txt, imdb.vocab ignored


def test_archive_with_or_without_top_folder(imdb_folder, imdb_archive, tmp_path):
    plain_tar = synthetic_imdb.write_archive(str(tmp_path / "flat.tar"), imdb_folder, arcname=".")
    for path in (imdb_archive, plain_tar):
        source = layout.locate(path)
        assert (source.kind, source.counts) == ("archive", EXPECTED)


def test_an_archive_read_in_parts_gives_each_review_once_in_the_archive_order(imdb_archive):
    whole = list(layout.read_archive_subsets(imdb_archive, ["train", "test"]))
    assert len(whole) == layout.locate(imdb_archive).reviews == 160
    parts = [list(layout.read_archive_subsets(imdb_archive, ["test", "train"], first, end))
             for first, end in ((0, 50), (50, 100), (100, None))]
    assert [len(part) for part in parts] == [50, 50, 60] and sum(parts, []) == whole
    assert list(layout.read_archive_subsets(imdb_archive, ["test"], 100, 120)) == [
        review for review in whole[100:120] if review.subset == "test"]


def test_fingerprint_changes_with_content(imdb_folder, tmp_path):
    copy = shutil.copytree(imdb_folder, tmp_path / "aclImdb")
    before = layout.locate(str(copy)).fingerprint
    assert layout.locate(str(copy)).fingerprint == before
    (copy / "train" / "pos" / "0_9.txt").write_text("a new review, longer than before")
    assert layout.locate(str(copy)).fingerprint != before


def test_missing_path_names_it_and_the_layout(tmp_path):
    with pytest.raises(layout.DataLayoutError, match="nowhere.*does not exist.*aclImdb/\\{train,test\\}"):
        layout.locate(str(tmp_path / "nowhere"))


def test_folder_without_the_layout(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(layout.DataLayoutError, match="neither train/ and test/ nor aclImdb/"):
        layout.locate(str(tmp_path))


def test_archive_missing_a_class(imdb_folder, tmp_path):
    path = tmp_path / "partial.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(os.path.join(imdb_folder, "train"), arcname="aclImdb/train")
    with pytest.raises(layout.DataLayoutError, match="no reviews in test/pos, test/neg|no reviews in test/neg, test/pos"):
        layout.locate(str(path))


def test_truncated_archive_is_reported_and_nothing_is_extracted(imdb_archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    data = open(imdb_archive, "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(layout.DataLayoutError, match="corrupt or truncated"):
        layout.locate(str(truncated))
    assert os.listdir(tmp_path) == ["truncated.tar.gz"]


def test_decoding_rule():
    assert layout.decode_review("Fine café".encode()) == ("Fine café", None)
    text, issue = layout.decode_review(b"bad \xff byte")
    assert (text, issue) == ("bad \ufffd byte", "invalid_utf8")
    assert layout.decode_review(b"  \n") == ("", "empty")


def test_split_selectors_are_disjoint_deterministic_and_cover_the_subset():
    reviews = [layout.RawReview("train", i % 2, i, 8, b"x") for i in range(2000)]
    train = layout.SplitSelector.parse("train[0:0.8]")
    evaluation = layout.SplitSelector.parse("train[0.8:1]")
    taken = [(train.takes(r), evaluation.takes(r)) for r in reviews]
    assert all(a != b for a, b in taken)
    assert abs(sum(a for a, _ in taken) - 1600) <= 2  # an even spread, not a coin toss
    assert taken == [(train.takes(r), evaluation.takes(r)) for r in reviews]
    path = "x/aclImdb/train/neg/7_8.txt"
    assert train.takes_path(path) == train.takes(layout.RawReview("train", 0, 7, 8, b""))


def test_split_pattern_errors():
    with pytest.raises(ValueError, match="not of the form"):
        layout.SplitSelector.parse("train")
    with pytest.raises(ValueError, match="start < end"):
        layout.SplitSelector.parse("test[0.5:0.2]")
