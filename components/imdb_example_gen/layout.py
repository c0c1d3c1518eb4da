"""Finds the IMDB reviews in the official aclImdb layout, as a folder or an archive, and reads them.

Validation runs before any Beam work, so a wrong path, a missing class folder or a truncated archive
is reported at once, naming the path and the expected layout. The archive is streamed, never extracted.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import posixpath
import re
import stat as stat_lib
import tarfile
import zlib
from typing import BinaryIO, Dict, Iterable, Iterator, Optional, Tuple

import tensorflow as tf

SUBSETS = ("train", "test")
CLASS_LABELS = {"neg": 0, "pos": 1}

EXPECTED_LAYOUT = (
    "the official aclImdb layout: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt, given as "
    "the aclImdb folder, a folder that contains it, or a .tar.gz/.tar archive of it "
    "(such as aclImdb_v1.tar.gz)"
)

_REVIEW_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")
# A review file's path in a folder (any prefix) and, once normalised, an archive member's name.
REVIEW_PATH = re.compile(r"^(?:.*/)?(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
ARCHIVE_MEMBER = re.compile(r"^(?:aclImdb/)?(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


class DataLayoutError(ValueError):
    """The data path is missing, unreadable, or not in the aclImdb layout."""


@dataclasses.dataclass(frozen=True)
class RawReview:
    """One review file: where it sits in the layout and its undecoded bytes."""

    subset: str
    label: int
    review_id: int
    rating: int
    content: bytes


@dataclasses.dataclass(frozen=True)
class ImdbSource:
    """A validated data location: what kind it is and how many reviews each class folder holds."""

    path: str
    kind: str  # "folder" or "archive"
    root: str  # the aclImdb folder itself ("" for archives)
    counts: Dict[Tuple[str, str], int]
    fingerprint: str
    # Archive members named like reviews but outside [aclImdb/]{train,test}/{pos,neg}/ once
    # normalised ("../", absolute or other folders): never read, only counted.
    ignored: int = 0

    @property
    def reviews(self) -> int:
        return sum(self.counts.values())


def locate(path: str) -> ImdbSource:
    """Validates PATH and tells how to read it; raises DataLayoutError naming what is wrong."""
    if not path:
        raise DataLayoutError(f"No IMDB data path given; expected {EXPECTED_LAYOUT}.")
    path = path.rstrip("/") or "/"
    if not tf.io.gfile.exists(path):
        raise DataLayoutError(f"IMDB data path {path!r} does not exist; expected {EXPECTED_LAYOUT}.")
    return _locate_folder(path) if tf.io.gfile.isdir(path) else _scan_archive(path)


def find_root(path: str) -> Tuple[str, str]:
    """(kind, root) of a data path without reading the reviews: enough once `locate` validated it."""
    path = path.rstrip("/") or "/"
    if not tf.io.gfile.isdir(path):
        return "archive", path
    root = next((c for c in (path, f"{path}/aclImdb")
                 if any(tf.io.gfile.isdir(f"{c}/{subset}") for subset in SUBSETS)), None)
    if root is None:
        raise DataLayoutError(f"IMDB data folder {path!r} has neither train/ and test/ nor aclImdb/ inside; "
                              f"expected {EXPECTED_LAYOUT}.")
    return "folder", root


def _locate_folder(path: str) -> ImdbSource:
    _, root = find_root(path)
    counts, digest = {}, hashlib.sha256()
    for subset in SUBSETS:
        for polarity in CLASS_LABELS:
            class_dir = f"{root}/{subset}/{polarity}"
            if not tf.io.gfile.isdir(class_dir):
                raise DataLayoutError(f"IMDB class folder {class_dir!r} is missing; expected {EXPECTED_LAYOUT}.")
            names = sorted(n for n in tf.io.gfile.listdir(class_dir) if _REVIEW_NAME.match(n))
            if not names:
                raise DataLayoutError(f"IMDB class folder {class_dir!r} has no review files named "
                                      f"<id>_<rating>.txt; expected {EXPECTED_LAYOUT}.")
            counts[(subset, polarity)] = len(names)
            for name in names:
                stat = _review_file_stat(f"{class_dir}/{name}")
                digest.update(f"{subset}/{polarity}/{name} {stat.length} {stat.mtime_nsec}\n".encode())
    return ImdbSource(path, "folder", root, counts, "folder:" + digest.hexdigest())


def _review_file_stat(path: str):
    """The file's stat; DataLayoutError naming it if it cannot be a review (a symlink loop, a
    folder, a FIFO that would block the reader for ever, ...)."""
    if "://" not in path:  # a local file: its type is known too
        try:
            mode = os.stat(path).st_mode
        except OSError as error:
            raise DataLayoutError(f"IMDB review file {path!r} cannot be read ({error.strerror}).") from error
        if not stat_lib.S_ISREG(mode):
            kind = "a folder, not a file" if stat_lib.S_ISDIR(mode) else "not a regular file"
            raise DataLayoutError(f"IMDB review file {path!r} is {kind}.")
    try:
        stat = tf.io.gfile.stat(path)
    except tf.errors.OpError as error:
        raise DataLayoutError(f"IMDB review file {path!r} cannot be read ({error.message}).") from error
    if stat.is_directory:
        raise DataLayoutError(f"IMDB review file {path!r} is a folder, not a file.")
    return stat


class _HashingReader:
    """A read-only file wrapper that hashes every byte read, to fingerprint while validating."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.digest.update(data)
        return data


class _Prefixed:
    """A read-only stream that gives back the bytes already peeked at, then the rest."""

    def __init__(self, head: bytes, raw):
        self._head, self._raw = head, raw

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data, self._head = self._head + self._raw.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data + (self._raw.read(size - len(data)) if size > len(data) else b"")


def _open_archive(path: str, fileobj) -> tarfile.TarFile:
    """A streaming TarFile; gzip is decoded by the gzip module, which notices a truncated stream
    (tarfile's own ends quietly when the stream stops inside a tar header, as if the archive ended)."""
    head = fileobj.read(2)
    stream = _Prefixed(head, fileobj)
    try:
        if head == b"\x1f\x8b":
            return tarfile.open(fileobj=gzip.GzipFile(fileobj=stream, mode="rb"), mode="r|")
        return tarfile.open(fileobj=stream, mode="r|*")
    except (tarfile.ReadError, zlib.error, EOFError, OSError) as error:
        raise DataLayoutError(f"IMDB data file {path!r} is not a readable tar archive ({error}); "
                              f"expected {EXPECTED_LAYOUT}.") from error


class _Corrupt(Exception):
    """Damage found by this module's own checks (tarfile and gzip raise their own errors)."""


def _check_end(archive: tarfile.TarFile) -> None:
    """Reads to the stream's real end: tarfile stops quietly at a header it cannot parse (a bad checksum,
    say), gzip checks each member's CRC and length at its end, and past the end marker only zeros may follow."""
    stopped = offset = archive.fileobj.tell()
    while True:
        block = archive.fileobj.read(1 << 16)
        if not block:
            return
        if block.count(0) != len(block):
            at = offset + next(i for i, b in enumerate(block) if b)
            raise _Corrupt(f"a damaged tar header: tar stopped reading at byte {stopped:,} but data goes on "
                           f"at byte {at:,}, so the reviews after it would be lost")
        offset += len(block)


def _iter_archive(path: str, fileobj, with_content: bool) -> Iterator[Tuple[str, Optional[bytes]]]:
    """Yields (normalised name, content) of the archive's review members, and ("", None) for each
    member named like a review but outside the layout; every kind of damage is a DataLayoutError."""
    archive = _open_archive(path, fileobj)
    seen = set()
    try:
        for member in archive:
            if not member.isfile():
                continue
            # "./aclImdb//x" -> "aclImdb/x"; a name outside the archive ("../", absolute) never matches.
            name = posixpath.normpath(member.name)
            if not ARCHIVE_MEMBER.match(name):
                if REVIEW_PATH.match(member.name):
                    yield "", None  # named like a review, but not where the layout puts reviews
                continue
            if name in seen:
                raise DataLayoutError(f"IMDB archive {path!r} holds {name!r} twice; which copy is the review "
                                      "is ambiguous, so the archive is refused.")
            seen.add(name)
            yield name, (archive.extractfile(member).read() if with_content else None)
        _check_end(archive)
    except (tarfile.TarError, zlib.error, EOFError, OSError, _Corrupt) as error:
        raise DataLayoutError(f"IMDB archive {path!r} is corrupt or truncated ({error}); nothing was extracted. "
                              "Download it again.") from error
    finally:
        archive.close()


def _scan_archive(path: str) -> ImdbSource:
    counts = {(s, p): 0 for s in SUBSETS for p in CLASS_LABELS}
    ignored = 0
    with tf.io.gfile.GFile(path, "rb") as raw:
        reader = _HashingReader(raw)
        for name, _ in _iter_archive(path, reader, with_content=False):
            if name:
                counts[ARCHIVE_MEMBER.match(name).group(1, 2)] += 1
            else:
                ignored += 1
        while reader.read(1 << 20):  # hash any trailing bytes too
            pass
    empty = [f"{s}/{p}" for (s, p), n in counts.items() if n == 0]
    if empty:
        raise DataLayoutError(
            f"IMDB archive {path!r} has no reviews in {', '.join(empty)}; expected {EXPECTED_LAYOUT}.")
    return ImdbSource(path, "archive", "", counts, "archive:" + reader.digest.hexdigest(), ignored)


def parse_review_path(path: str, content: bytes) -> RawReview:
    match = REVIEW_PATH.match(path)
    if not match:
        raise DataLayoutError(f"{path!r} is not a review file of {EXPECTED_LAYOUT}.")
    subset, polarity, review_id, rating = match.groups()
    return RawReview(subset, CLASS_LABELS[polarity], int(review_id), int(rating), content)


def read_archive_subsets(path: str, subsets: Iterable[str], first: int = 0,
                         end: Optional[int] = None) -> Iterator[RawReview]:
    """Streams the reviews of the given subsets (train, test) out of an archive, in one pass: those whose
    place among the archive's reviews, counted from 0 in the archive's order, is in [FIRST, END). A gzip
    stream is read from its start, so a part reads up to its END; only the last part (END None) reads to
    the stream's end and checks it (the driver has checked the whole archive already)."""
    subsets = frozenset(subsets)
    place = 0
    with tf.io.gfile.GFile(path, "rb") as raw:
        for name, content in _iter_archive(path, raw, with_content=True):
            if not name:
                continue
            if end is not None and place >= end:
                return
            if place >= first:
                review = parse_review_path(name, content)
                if review.subset in subsets:
                    yield review
            place += 1


_GOLDEN_RATIO_CONJUGATE = (5 ** 0.5 - 1) / 2


def position(review_id: int) -> float:
    """A review's place in [0, 1), the basis of every split and sample: frac(id * 0.618...) (a Weyl
    sequence) scatters neighbouring ids (one movie's reviews) like a shuffle, but evenly: a range [a, b)
    holds (b - a) of a class's 12,500 ids to within a few reviews, where a hash would be off by about
    sqrt(n). Both classes share the ids 0..12499, so every split keeps the 50/50 balance too."""
    return (review_id * _GOLDEN_RATIO_CONJUGATE) % 1.0


@dataclasses.dataclass(frozen=True)
class SplitSelector:
    """Which reviews a split takes: a subset and a range of positions, written `train[0:0.8]`."""

    subset: str
    start: float
    end: float

    _PATTERN = re.compile(r"^(train|test)\[([0-9.]+):([0-9.]+)\]$")

    @classmethod
    def parse(cls, pattern: str) -> "SplitSelector":
        match = cls._PATTERN.match(pattern.strip())
        if not match:
            raise ValueError(f"Split pattern {pattern!r} is not of the form 'train[0:0.8]'.")
        start, end = float(match.group(2)), float(match.group(3))
        if not 0 <= start < end <= 1:
            raise ValueError(f"Split pattern {pattern!r} needs 0 <= start < end <= 1.")
        return cls(match.group(1), start, end)

    def __str__(self) -> str:
        return f"{self.subset}[{self.start:g}:{self.end:g}]"

    def takes(self, review: RawReview) -> bool:
        return review.subset == self.subset and self.start <= position(review.review_id) < self.end

    def takes_path(self, path: str) -> bool:
        """The same decision from a file name alone, so unselected files are never read."""
        match = REVIEW_PATH.match(path)
        return bool(match) and match.group(1) == self.subset and (
            self.start <= position(int(match.group(3))) < self.end)


def decode_review(content: bytes) -> Tuple[str, Optional[str]]:
    """Decodes a review, returning (text, issue): bytes that are not valid UTF-8 become U+FFFD and
    the review is kept (issue "invalid_utf8"); a review that is empty or only white space is skipped
    (issue "empty", text ""), as it carries no signal. Both are counted in the run."""
    try:
        text, issue = content.decode("utf-8"), None
    except UnicodeDecodeError:
        text, issue = content.decode("utf-8", errors="replace"), "invalid_utf8"
    if not text.strip():
        return "", "empty"
    return text, issue
