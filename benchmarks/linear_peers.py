"""What a user who only wants accuracy would pick instead: linear models, trained on the same split.

Two scikit-learn baselines over words to triples, trained on the pipeline's own training split
(ExampleGen's output: both sides see the same reviews), C chosen on the eval split, then refit on
train + eval with that C (as the default model is), and scored on the 25,000 test reviews:

- TF-IDF + logistic regression (sublinear term frequencies, n-grams seen in 2+ reviews);
- NBSVM-style (Wang & Manning 2012): logistic regression on binary n-gram features scaled by the
  naive-Bayes log-count ratios, the model the pipeline's default `nb_ngrams` is built on.

Text is standardized by Transform's rules (components/text_vectorization.py), then split on white
space. scikit-learn is a benchmark dependency only; the pipeline never imports it.

    python -m benchmarks.linear_peers --examples PATH_TO_EXAMPLEGEN_ARTIFACT
"""

from __future__ import annotations

import glob
import json
import os
import re
import string
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from benchmarks import report
from common import features
from components import naive_bayes_bag, text_vectorization

NGRAM_RANGES = (2, 3)  # words and pairs; words, pairs and triples
TFIDF_C = (3.0, 10.0, 30.0)
NBSVM_C = (0.1, 0.3, 1.0)

_LINE_BREAK = re.compile(text_vectorization.HTML_LINE_BREAK)
_PUNCTUATION = re.compile(text_vectorization.KERAS_STRIP_PUNCTUATION)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # tf.strings.lower's


def standardize(text: str) -> str:
    return _PUNCTUATION.sub("", _LINE_BREAK.sub(" ", text).translate(_ASCII_LOWER))


def read_split(examples_uri: str, split: str) -> Tuple[List[str], np.ndarray]:
    """Review texts and labels of one split of an ExampleGen artifact (gzipped TFRecords)."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no {split} split under {examples_uri}")
    texts, labels = [], []
    spec = {features.TEXT: tf.io.FixedLenFeature([], tf.string), features.LABEL: tf.io.FixedLenFeature([], tf.int64)}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
        parsed = tf.io.parse_example(batch, spec)
        texts += [t.decode("utf-8") for t in parsed[features.TEXT].numpy()]
        labels += parsed[features.LABEL].numpy().tolist()
    return texts, np.asarray(labels)


def _tfidf_lr(ngrams: int, c: float):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(preprocessor=standardize, token_pattern=r"\S+", ngram_range=(1, ngrams),
                        min_df=2, sublinear_tf=True),
        LogisticRegression(C=c, max_iter=1000))


class NBSVM:
    """Binary n-grams x naive-Bayes log-count ratios, then L2 logistic regression (liblinear)."""

    def __init__(self, ngrams: int, c: float):
        from sklearn.feature_extraction.text import CountVectorizer

        self.vectorizer = CountVectorizer(preprocessor=standardize, token_pattern=r"\S+",
                                          ngram_range=(1, ngrams), binary=True)
        self.c = c

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> "NBSVM":
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        x = self.vectorizer.fit_transform(texts)
        self.ratios = sparse.diags(naive_bayes_bag.log_count_ratios(
            np.asarray(x[labels == 1].sum(axis=0)).ravel(), np.asarray(x[labels == 0].sum(axis=0)).ravel()))
        self.classifier = LogisticRegression(C=self.c, solver="liblinear", dual=True, max_iter=1000)
        self.classifier.fit(x @ self.ratios, labels)
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classifier.predict(self.vectorizer.transform(texts) @ self.ratios)


PEERS: Dict[str, Tuple[Callable, Sequence[float]]] = {
    "TF-IDF + logistic regression": (_tfidf_lr, TFIDF_C),
    "NBSVM (NB-weighted logistic regression)": (NBSVM, NBSVM_C),
}


def run(examples_uri: str, progress=print) -> List[dict]:
    """Each peer at each n-gram range: the C with the best eval accuracy, then the test accuracy and
    training time of the refit on train + eval."""
    (train_x, train_y), (eval_x, eval_y), (test_x, test_y) = (
        read_split(examples_uri, split) for split in (features.TRAIN_SPLIT, features.EVAL_SPLIT, features.TEST_SPLIT))
    results = []
    for name, (make, grid) in PEERS.items():
        for ngrams in NGRAM_RANGES:
            tried = {c: float(np.mean(make(ngrams, c).fit(train_x, train_y).predict(eval_x) == eval_y)) for c in grid}
            c = max(tried, key=tried.get)
            # As the pipeline's default model does: refit on train + eval with what eval chose.
            started = time.perf_counter()
            model = make(ngrams, c).fit(train_x + eval_x, np.concatenate([train_y, eval_y]))
            seconds = time.perf_counter() - started
            result = {"peer": name, "ngrams": ngrams, "c": c, "eval_accuracy": tried[c],
                      "test_accuracy": float(np.mean(model.predict(test_x) == test_y)),
                      "train_seconds": seconds, "grid": {str(k): v for k, v in tried.items()},
                      "train_examples": len(train_x) + len(eval_x), "test_examples": len(test_x)}
            progress(f"[peers] {name}, up to {ngrams}-grams, C={c:g}: test accuracy "
                     f"{result['test_accuracy']:.4f}, {seconds:.0f} s to train")
            results.append(result)
    return results


def main(argv=None) -> int:
    p = report.parser(__doc__)
    p.add_argument("--examples", required=True, help="an ExampleGen artifact's folder (Split-train, ...)")
    p.add_argument("--out", help="write the results here (JSON)")
    args = p.parse_args(argv)
    results = run(args.examples)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
