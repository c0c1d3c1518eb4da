"""The run's settings and their defaults: everything a runner may choose apart from paths.

Each model variant comes with the text settings and hyperparameters it was measured with
(docs/benchmarks.md): the notebook's BiLSTMs, tuned `ngram_bag` and `nb_ngrams` (the default), and
`nb_bilstm`, the last two's parts together.
A default run uses a deterministic half of the data; `full` uses all 50,000 reviews.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict

from components.model.hparams import BILSTM_VARIANTS, TrainingConfig

PIPELINE_NAME = "imdb-sentiment"  # Kubeflow allows [a-z0-9-] only

DEFAULT_SAMPLE_FRACTION = 0.5  # 10,000 / 2,500 / 12,500 reviews
DEFAULT_EVAL_FRACTION = 0.2  # of aclImdb/train, held out to choose the epoch: the notebook's 20,000 / 5,000

# The notebook's TextVectorization(max_tokens=8000, output_sequence_length=600): words only.
NOTEBOOK_MAX_TOKENS = 8000  # includes the padding and OOV ids, as in Keras
NOTEBOOK_SEQUENCE_LENGTH = 600
NOTEBOOK_NGRAMS = 1  # 2 would add word pairs (TextVectorization's ngrams=2)


@dataclasses.dataclass(frozen=True)
class VariantDefaults:
    training: TrainingConfig
    max_tokens: int = NOTEBOOK_MAX_TOKENS
    sequence_length: int = NOTEBOOK_SEQUENCE_LENGTH
    ngrams: int = NOTEBOOK_NGRAMS
    sample_epochs: int = 5  # BiLSTMs on a sample: the best by validation loss was the 5th in every run


# The notebook's BiLSTMs train in length buckets of this many tokens, padding masked
# (fitting.in_length_buckets): as accurate as the notebook's way in plain Keras over three seeds
# each, and 1.2-1.7x its examples/s on two cores (docs/benchmarks.md, "Length buckets").
LENGTH_BUCKET_WIDTH = 50

VARIANT_DEFAULTS = {
    # The notebook's configurations: vocabulary 8,000, 600 tokens, BiLSTM(32), rmsprop, 10 epochs
    # (`--bucket-width 0`: exactly the notebook's models).
    **{variant: VariantDefaults(TrainingConfig(variant=variant, bucket_width=LENGTH_BUCKET_WIDTH))
       for variant in BILSTM_VARIANTS},
    # Tuned on the full data (docs/benchmarks.md): the 200,000 most frequent words and word pairs, the
    # first 1,000 per review (words first: long reviews lose pairs, not words), averaged 64-d embeddings,
    # Adam, early stopping. Batches of 256: Adam updates all 200,000 x 64 rows every step, so 256 reviews
    # cost 1.9x 32: 4x less training time, same accuracy at a scaled-up rate (docs/measurements.md).
    "ngram_bag": VariantDefaults(
        TrainingConfig(variant="ngram_bag", optimizer="adam", embedding_dim=64, epochs=10,
                       batch_size=256, learning_rate=0.004, early_stopping_patience=2),
        max_tokens=200_000, sequence_length=1000, ngrams=2, sample_epochs=10),
    # The default. NBSVM as a Keras model (components/naive_bayes_bag.py, models.py): words, pairs and
    # triples in at least two training reviews (~735,000), each review's 1,024 most frequent distinct ones
    # (95% of reviews have fewer), Adam at 0.003 in batches of 256 (the validation loss still falls at
    # epoch 8), then a refit on train + eval for the chosen epochs (0.920 -> 0.922 test accuracy).
    # Dropout on the n-grams, label smoothing or EMA weights measured no better (docs/benchmarks.md).
    "nb_ngrams": VariantDefaults(
        TrainingConfig(variant="nb_ngrams", optimizer="adam", epochs=8, batch_size=256, learning_rate=0.003,
                       dropout=0.0, early_stopping_patience=2, refit_on_train_and_eval=True),
        max_tokens=1_000_000, sequence_length=1024, ngrams=3, sample_epochs=8),
}
# nb_ngrams and the notebook's GloVe BiLSTM, fine-tuned as measured best alone (4 epochs after the frozen 10),
# each trained as alone (the bag without its refit: the blend of their scores is fitted on the eval split,
# components/model/blending.py), the bag reading nb_ngrams' n-grams, the BiLSTM the notebook's words in
# length buckets. The GloVe branch blended best: test accuracy 0.9230, the embedding one's 0.9191; bucketed,
# the GloVe blend measured 0.9230 again (docs/benchmarks.md).
VARIANT_DEFAULTS["nb_bilstm"] = dataclasses.replace(
    VARIANT_DEFAULTS["nb_ngrams"], sample_epochs=VARIANT_DEFAULTS["glove"].sample_epochs,
    training=dataclasses.replace(
        VARIANT_DEFAULTS["glove"].training, variant="nb_bilstm", bilstm_input="glove", fine_tune_epochs=4,
        bag=dataclasses.replace(VARIANT_DEFAULTS["nb_ngrams"].training, refit_on_train_and_eval=False),
        word_max_tokens=NOTEBOOK_MAX_TOKENS, word_sequence_length=NOTEBOOK_SEQUENCE_LENGTH))
DEFAULT_VARIANT = "nb_ngrams"
# The test accuracy a model must reach to be pushed: nb_ngrams measured 0.919-0.922 on the full data,
# ngram_bag 0.889-0.891 on the sample and 0.903 on the full data, the notebook's BiLSTMs 0.85-0.87.
# Each gate sits under what any variant's healthy run reaches and far above a broken one's (0.5).
DEFAULT_MIN_ACCURACY_SAMPLE = 0.75
DEFAULT_MIN_ACCURACY_FULL = 0.84
DEFAULT_MAX_ACCURACY_DROP = 0.0  # no worse than the model being served
# Training reviews per training split on Flink (--train-parts): Beam 2.62's Flink runner reads a split
# as one bundle, which never ends once it sends back about a gigabyte, some 400,000 transformed
# reviews (docs/scaling.md); half of that leaves room for longer reviews.
FLINK_TRAIN_REVIEWS_PER_SPLIT = 200_000


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    """A run's settings, resolved: the text sizes are the variant's (`for_variant`) unless chosen."""

    data_path: str
    training: TrainingConfig
    min_accuracy: float
    max_tokens: int
    sequence_length: int
    ngrams: int
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP
    eval_fraction: float = DEFAULT_EVAL_FRACTION
    sample_fraction: float = DEFAULT_SAMPLE_FRACTION
    train_parts: int = 1  # the training reviews as this many splits (pipeline.create_pipeline)
    allow_anomalies: bool = False  # proceed when the data breaks the curated schema (saying so)

    @classmethod
    def for_variant(cls, data_path: str, training: TrainingConfig, min_accuracy: float,
                    **chosen: Any) -> "PipelineSettings":
        """Settings with the text sizes of TRAINING's variant, except those CHOSEN."""
        defaults = VARIANT_DEFAULTS[training.variant]
        sizes = {name: getattr(defaults, name) for name in ("max_tokens", "sequence_length", "ngrams")}
        return cls(data_path=data_path, training=training, min_accuracy=min_accuracy, **{**sizes, **chosen})

    def validate(self) -> None:
        """Raises ValueError naming the first bad setting, before any component runs; the checks
        are the components' own, so they cannot disagree with what would fail later."""
        from components import accuracy_gate, text_vectorization
        from components.imdb_example_gen import component

        component.input_config(self.eval_fraction, self.sample_fraction, self.train_parts)
        accuracy_gate.eval_config(self.min_accuracy, self.max_accuracy_drop)
        text_vectorization.check_sizes(self.max_tokens, self.sequence_length, self.ngrams,
                                       self.training.token_encoding, self.training.word_sizes)

    def as_kwargs(self) -> Dict[str, Any]:
        """create_pipeline's keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
