"""Writes small data sets in the aclImdb layout, so tests run real components on known data."""

from __future__ import annotations

import io
import os
import random
import tarfile
from typing import Optional

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "loved", "charming", "best"]
NEGATIVE = ["awful", "boring", "terrible", "dull", "worst", "waste", "hated", "clumsy"]
FILLER = ["the", "film", "movie", "plot", "actors", "story", "was", "and", "a", "it", "scene",
          "director", "really", "quite", "this", "of", "ending", "music", "cast", "script"]


def review_text(rng: random.Random, positive: bool) -> str:
    signal = POSITIVE if positive else NEGATIVE
    words = [rng.choice(FILLER) for _ in range(rng.randint(8, 30))]
    for _ in range(rng.randint(2, 4)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(signal))
    sentence = " ".join(words)
    return f"{sentence.capitalize()}!<br /><br />It's {rng.choice(signal)}, {rng.choice(FILLER)}."


def write_folder(root: str, per_class: int = 40, seed: int = 0, label_noise: float = 0.0,
                 train_label_noise: float = 0.0) -> str:
    """Writes ROOT/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt and the official archive's other
    files; returns the aclImdb path. LABEL_NOISE: the share of test reviews whose text says the opposite
    of their folder (test accuracy is at most 1 - label_noise); TRAIN_LABEL_NOISE: the same in training
    (0.5 leaves nothing to learn)."""
    rng = random.Random(seed)
    base = os.path.join(root, "aclImdb")
    for subset in ("train", "test"):
        for polarity in ("pos", "neg"):
            folder = os.path.join(base, subset, polarity)
            os.makedirs(folder, exist_ok=True)
            for review_id in range(per_class):
                rating = rng.randint(7, 10) if polarity == "pos" else rng.randint(1, 4)
                noise = label_noise if subset == "test" else train_label_noise
                flipped = review_id < round(noise * per_class)  # its text says the opposite of its folder
                with open(os.path.join(folder, f"{review_id}_{rating}.txt"), "w") as out:
                    out.write(review_text(rng, (polarity == "pos") != flipped))
    os.makedirs(os.path.join(base, "train", "unsup"), exist_ok=True)  # the official files that must be ignored
    for name, text in (("train/unsup/0_0.txt", "unlabeled"), ("imdb.vocab", "ignored\n"), ("README", "ignored\n"),
                       ("train/labeledBow.feat", "ignored\n"), ("train/urls_pos.txt", "ignored\n")):
        with open(os.path.join(base, name), "w") as out:
            out.write(text)
    return base


def read_test_split(folder: str):
    """(reviews, labels) of an aclImdb folder's test/, positive ones first, each class by file name."""
    reviews, labels = [], []
    for polarity, label in (("pos", 1), ("neg", 0)):
        for name in sorted(os.listdir(os.path.join(folder, "test", polarity))):
            with open(os.path.join(folder, "test", polarity, name), encoding="utf-8") as f:
                reviews.append(f.read())
            labels.append(label)
    return reviews, labels


def tar_gz(members) -> bytes:
    """A .tar.gz of (name, bytes) members, names as given (tarfile would refuse nothing)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_archive(path: str, folder: str, arcname: Optional[str] = "aclImdb") -> str:
    """Packs an aclImdb folder as a .tar.gz, the way the official archive is packed."""
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname=arcname)
    return path
