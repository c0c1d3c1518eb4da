"""Hostile data, options and faults, through `./imdb run`'s entry point (pipeline.cli.main): part of the
hostile-input suite (README, "Reliability") with tests/test_hostile_serving.py and the wrapper's
tests/host/wrapper_checks.sh. Each case asserts the exit status and the message a user sees, and
that nothing was trained, pushed or left locked."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

import example_gen_runs
from synthetic_imdb import tar_gz
from components import atomic_pusher
from components.imdb_example_gen import layout
from pipeline import cli, output_dir


@pytest.fixture(autouse=True)
def restore_logging():
    """cli.main points the root logger at the run's log file; give pytest its handlers back."""
    root = logging.getLogger()
    handlers, level, raise_exceptions = list(root.handlers), root.level, logging.raiseExceptions
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers = handlers
    root.setLevel(level)
    logging.raiseExceptions = raise_exceptions


def _refused(capsys, tmp_path, *argv) -> str:
    """What `./imdb run ARGV` prints as it refuses to start (exit status 2, no traceback)."""
    out = tmp_path / "outputs"
    try:
        status = cli.main([*argv, "--output-dir", str(out)])
    except SystemExit as refused:  # argparse's own refusals
        status = refused.code
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert status == 2 and "Traceback" not in output, output
    # Healthy afterwards: nothing trained or pushed, and the output directory is not left locked.
    assert not (out / "pipelines").exists() and not (out / "serving_model").exists()
    output_dir.RunLock(str(out)).acquire().release()
    return output


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def _complete_members(count: int = 3):
    for subset in ("train", "test"):
        for polarity in ("pos", "neg"):
            for i in range(count):
                yield f"aclImdb/{subset}/{polarity}/{i}_{8 if polarity == 'pos' else 2}.txt", b"a fine review"


ARCHIVE_CASES = [
    # (name, how the archive is made from the healthy one, words of the error)
    ("one byte flipped near the end", lambda a: _flip(a, len(a) - 12), "corrupt or truncated"),
    ("one byte flipped in the middle", lambda a: _flip(a, len(a) // 2), "corrupt or truncated"),
    ("the gzip CRC wrong", lambda a: _flip(a, len(a) - 6), "CRC check failed"),
    ("the gzip length wrong", lambda a: _flip(a, len(a) - 2), "corrupt or truncated"),
    ("truncated", lambda a: a[: len(a) // 3], "corrupt or truncated"),
    ("garbage appended", lambda a: a + b"garbage after the archive", "corrupt or truncated"),
    ("a second gzip member of garbage", lambda a: a + gzip.compress(b"x" * 5000), "data goes on"),
    ("not an archive", lambda a: b"just some text, not an archive", "not a readable tar archive"),
    ("an empty file", lambda a: b"", "not a readable tar archive"),
    ("gzip of text, not of a tar", lambda a: gzip.compress(b"hello " * 100), "not a readable tar archive"),
    ("a member twice", lambda a: tar_gz(list(_complete_members()) + [("aclImdb/train/pos/0_8.txt", b"again")]),
     "holds 'aclImdb/train/pos/0_8.txt' twice"),
    ("a class missing", lambda a: tar_gz(m for m in _complete_members() if "/test/neg/" not in m[0]),
     "no reviews in test/neg"),
]


@pytest.mark.parametrize("name, make, words", ARCHIVE_CASES, ids=[c[0] for c in ARCHIVE_CASES])
def test_a_damaged_archive_is_refused_by_name(capsys, tmp_path, imdb_archive, name, make, words):
    path = tmp_path / "aclImdb_v1.tar.gz"
    path.write_bytes(make(pathlib.Path(imdb_archive).read_bytes()))
    output = _refused(capsys, tmp_path, "--data", str(path))
    assert words in output and str(path) in output, output


FOLDER_CASES = [
    ("a symlink loop named like a review", lambda d: os.symlink("99_9.txt", d / "99_9.txt"), "cannot be read"),
    ("a folder named like a review", lambda d: os.mkdir(d / "99_9.txt"), "is a folder, not a file"),
    ("a FIFO named like a review", lambda d: os.mkfifo(d / "99_9.txt"), "is not a regular file"),
    ("a dangling symlink", lambda d: os.symlink("/no/such/file", d / "99_9.txt"), "cannot be read"),
    ("the class folder emptied", lambda d: [p.unlink() for p in d.iterdir()],
     "train/pos' has no review files"),
    ("the class folder removed", lambda d: shutil.rmtree(d), "train/pos' is missing"),
]


@pytest.mark.parametrize("name, make, words", FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_a_bad_data_folder_is_refused_by_name(capsys, tmp_path, imdb_folder, name, make, words):
    copy = shutil.copytree(os.path.dirname(imdb_folder), tmp_path / "data", symlinks=True)
    make(copy / "aclImdb" / "train" / "pos")
    output = _refused(capsys, tmp_path, "--data", str(copy))
    assert words in output, output


def test_members_outside_the_layout_are_ignored_and_counted(tmp_path):
    members = list(_complete_members(4)) + [
        ("../train/pos/100_9.txt", b"outside: above the archive"),
        ("/abs/aclImdb/train/pos/101_9.txt", b"outside: absolute"),
        ("aclImdb/../../test/neg/102_1.txt", b"outside: climbs out"),
        ("elsewhere/train/pos/103_9.txt", b"outside: another folder"),
        ("./aclImdb//train/pos/104_9.txt", b"inside, once normalised"),
    ]
    path = tmp_path / "odd.tar.gz"
    path.write_bytes(tar_gz(members))
    source = layout.locate(str(path))
    assert source.ignored == 4
    assert source.counts[("train", "pos")] == 5 and source.counts[("test", "neg")] == 4
    splits, _ = example_gen_runs.run(str(path), str(tmp_path / "run"), eval_fraction=0.2)
    texts = [t for split in splits.values() for t in split["text"]]
    assert len(texts) == 4 * 4 + 1 and not [t for t in texts if t.startswith(b"outside")]


OPTION_CASES = [
    (["--min-accuracy", "nan"], "min_accuracy"),
    (["--max-accuracy-drop", "nan"], "max_accuracy_drop"),  # NaN would refuse every later candidate
    (["--min-accuracy", "1.5"], "min_accuracy"),
    (["--max-accuracy-drop", "-0.1"], "max_accuracy_drop"),
    (["--epochs", "0"], "epochs"),
    (["--sample-fraction", "0"], "sample_fraction"),
    (["--sample-fraction", "1.5"], "sample_fraction"),
    (["--eval-fraction", "1"], "eval_fraction"),
    (["--train-parts", "0"], "train_parts"),
    (["--max-tokens", "1"], "max_tokens"),
    (["--sequence-length", "0"], "sequence_length"),
    (["--ngrams", "0"], "ngrams"),
    (["--learning-rate", "0"], "learning_rate"),
    (["--batch-size", "0"], "batch_size"),
    (["--fine-tune-epochs", "2"], "fine_tune_epochs"),  # the default nb_ngrams has no pretrained vectors
    (["--bucket-width", "50"], "bucket_width"),  # nor a BiLSTM
    (["--variant", "transformer"], "invalid choice: 'transformer'"),  # argparse's own refusal
]


@pytest.mark.parametrize("argv, words", OPTION_CASES, ids=[" ".join(c[0]) for c in OPTION_CASES])
def test_a_bad_option_is_refused_by_name(capsys, tmp_path, imdb_folder, argv, words):
    output = _refused(capsys, tmp_path, "--data", imdb_folder, *argv)
    assert words in output, output


GLOVE_CASES = [
    ("missing", None, "does not exist"),
    ("binary", b"\x00\x93\xff\xfe" * 100, "is not UTF-8 text"),
    ("ragged", b"the 0.1 0.2 0.3\nfilm 0.1 0.2 0.3\nplot 0.5 0.6\n", "line 3 has 2 values, line 1 has 3"),
    ("not numbers", b"the 0.1 0.2 0.3\nfilm one two three\n", "line 2 is not '<word> <float> ...'"),
    ("empty", b"", "is empty"),
    ("a folder", "folder", "is a folder, not a file"),
]


@pytest.mark.parametrize("name, content, words", GLOVE_CASES, ids=[c[0] for c in GLOVE_CASES])
def test_a_bad_glove_file_is_refused_before_any_component_runs(capsys, tmp_path, imdb_folder, name, content, words):
    path = tmp_path / "glove.6B.3d.txt"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    output = _refused(capsys, tmp_path, "--data", imdb_folder, "--variant", "glove", "--glove-path", str(path))
    assert words in output and str(path) in output, output


def test_an_output_dir_that_is_a_file_is_refused(capsys, tmp_path, imdb_folder):
    taken = tmp_path / "a_file"
    taken.write_text("not a folder")
    status = cli.main(["--data", imdb_folder, "--output-dir", str(taken)])
    output = capsys.readouterr().err
    assert status == 2 and f"--output-dir {str(taken)!r} is not a local folder" in output and "Traceback" not in output


def test_a_second_run_on_the_same_output_dir_is_refused_while_the_first_holds_it(capsys, tmp_path, imdb_folder):
    out = tmp_path / "outputs"
    holder = subprocess.Popen(  # a real process holding the run's lock, as a running ./imdb run does
        [sys.executable, "-c", "import sys, time; from pipeline.output_dir import RunLock; "
         "RunLock(sys.argv[1]).acquire(); print('holding', flush=True); time.sleep(600)", str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        status = cli.main(["--data", imdb_folder, "--output-dir", str(out)])
        error = capsys.readouterr().err
        assert status == 2 and f"another run (process {holder.pid}) is using {out}" in error
        assert not (out / "pipelines").exists()
    finally:
        holder.kill()
        holder.wait()
    output_dir.RunLock(str(out)).acquire().release()  # a killed holder frees it


@contextlib.contextmanager
def _tmpfs(path, size: str):
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "imdb-full", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"mounting a tmpfs for the disk-full test failed: {result.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_a_full_disk_is_one_clear_line(capsys, tmp_path, imdb_folder):
    with _tmpfs(tmp_path / "full", "600k") as full:
        started = time.monotonic()
        status = cli.main(["--data", imdb_folder, "--output-dir", str(full / "outputs"), "--sample-fraction", "1"])
        captured = capsys.readouterr()
        assert status == 1, captured.err
        errors = [line for line in captured.err.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith(f"error: no space left on device under {full / 'outputs'}")
        assert "Traceback" not in captured.out + captured.err, captured.err
        assert time.monotonic() - started < 300


def test_a_push_that_fills_the_disk_leaves_no_staging_copy(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(os.urandom(2 * 2**20))  # larger than the file system
    with _tmpfs(tmp_path / "serving", "1m") as full:
        with pytest.raises(Exception, match="No space left on device"):
            atomic_pusher.publish_version(str(model), str(full / "imdb_sentiment"))
        assert os.listdir(full / "imdb_sentiment") == []  # neither a version nor a staging copy
