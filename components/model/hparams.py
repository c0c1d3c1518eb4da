"""The Trainer's hyperparameters: one typed record, passed through the Trainer's custom_config."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Tuple

from common import features

# The notebook's three BiLSTMs; a bag of n-gram embeddings (fastText-style); the default, NBSVM-style
# (a linear model over naive-Bayes-weighted n-grams); and both, nb_ngrams and a notebook BiLSTM blended.
BILSTM_VARIANTS = ("one_hot", "embedding", "glove")
BLENDED_VARIANT = "nb_bilstm"
VARIANTS = (*BILSTM_VARIANTS, "ngram_bag", "nb_ngrams", BLENDED_VARIANT)
OPTIMIZERS = ("rmsprop", "adam")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """The variant is always chosen (pipeline/configs.py's DEFAULT_VARIANT by default); the other
    fields default to the notebook's BiLSTM, each variant's own are configs.py's VARIANT_DEFAULTS."""

    variant: str
    epochs: int = 10
    batch_size: int = 32
    lstm_units: int = 32
    embedding_dim: int = 256  # learned embeddings only; GloVe brings its own dimension
    dropout: float = 0.5
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001  # the Keras default of both optimizers
    early_stopping_patience: int = 0  # 0: train all epochs, keep the best by validation loss
    glove_path: Optional[str] = None  # a glove.6B.<d>d.txt or glove.6B.zip; None: the packaged 50d
    glove_dim: int = 100  # which member of glove.6B.zip to use
    # glove only: after the frozen epochs, this many more with the vectors trainable, from the best
    # frozen epoch and at this learning rate (fitting.py). 0: frozen throughout, as in the notebook.
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 0.0003
    # tfxio's default. ExampleGen interleaves the classes (imdb_example_gen/executor.py), so a buffer
    # smaller than the split feeds no long runs of one class (class by class, validation accuracy was
    # 0.55 after an epoch, 0.84 with the whole split) and memory stays bounded (~80 MB at 1,000 ids).
    shuffle_buffer_size: int = 10_000
    # BiLSTMs: train on reviews grouped by length, each batch padded to the next multiple of this many
    # tokens rather than to the sequence length (fitting.in_length_buckets), padding masked so that the
    # served model, fed 600 padded tokens, computes the same. 0: the notebook's way, 600 steps, unmasked.
    bucket_width: int = 0
    seed: int = 42
    mixed_precision: bool = False  # float16 compute, float32 weights, output and loss: GPUs' tensor cores
    # After choosing the epochs on the eval split, train afresh on train + eval for as many (trainer.py).
    refit_on_train_and_eval: bool = False
    # nb_bilstm only (blending.py): how its n-gram bag branch trains (an nb_ngrams configuration); which
    # of the notebook's inputs its BiLSTM branch reads (a BILSTM_VARIANT); that branch's words,
    # TextVectorization's max_tokens and output_sequence_length. The fields above are the BiLSTM branch's.
    bag: Optional["TrainingConfig"] = None
    bilstm_input: Optional[str] = None
    word_max_tokens: Optional[int] = None
    word_sequence_length: Optional[int] = None

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"model variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        blended = self.variant == BLENDED_VARIANT
        for name in ("bag", "bilstm_input", "word_max_tokens", "word_sequence_length"):
            if (getattr(self, name) is None) == blended:
                raise ValueError(f"{name} is {'needed by' if blended else 'only for'} the {BLENDED_VARIANT} "
                                 f"variant{'' if blended else f', not {self.variant}'}")
        if blended and (self.bag.variant != "nb_ngrams" or self.bag.refit_on_train_and_eval):
            raise ValueError(f"{BLENDED_VARIANT}'s bag must be an nb_ngrams configuration without refit "
                             "(the blend is fitted on the eval split)")
        if blended and self.bilstm_input not in BILSTM_VARIANTS:
            raise ValueError(f"bilstm_input must be one of {', '.join(BILSTM_VARIANTS)}, not {self.bilstm_input!r}")
        if blended and self.refit_on_train_and_eval:
            raise ValueError(f"{BLENDED_VARIANT} cannot refit on train and eval: the blend is fitted on the eval split")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        for name in ("learning_rate", "fine_tune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        for name in ("epochs", "batch_size", "lstm_units", "embedding_dim", "shuffle_buffer_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.bucket_width < 0:
            raise ValueError(f"bucket_width must be 0 or more, not {self.bucket_width}")
        if self.bucket_width and not self.bilstm:
            raise ValueError(f"bucket_width applies to a BiLSTM's token sequence, not {self.variant}")
        if self.fine_tune_epochs < 0:
            raise ValueError(f"fine_tune_epochs must be 0 or more, not {self.fine_tune_epochs}")
        if self.fine_tune_epochs and self.bilstm != "glove":
            raise ValueError(f"fine_tune_epochs applies to pretrained vectors (a glove BiLSTM), not {self.variant}"
                             + (f" reading {self.bilstm_input}" if self.bilstm_input else ""))
        if self.fine_tune_epochs and self.refit_on_train_and_eval:
            raise ValueError("fine_tune_epochs and refit_on_train_and_eval cannot be combined")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def token_encoding(self) -> str:
        """The Transform encoding this variant's model reads (features.ENCODINGS)."""
        return {"nb_ngrams": features.NAIVE_BAYES_BAG_ENCODING,
                BLENDED_VARIANT: features.BAG_AND_WORDS_ENCODING}.get(self.variant, features.SEQUENCE_ENCODING)

    @property
    def bilstm(self) -> Optional[str]:
        """The input of the variant's BiLSTM (one of BILSTM_VARIANTS), None if it has none."""
        return self.bilstm_input or (self.variant if self.variant in BILSTM_VARIANTS else None)

    @property
    def masks_padding(self) -> bool:
        """Whether the BiLSTM skips padding: the notebook's GloVe model did; bucketing needs it."""
        return self.bilstm == "glove" or self.bucket_width > 0

    @property
    def word_sizes(self) -> Optional[Tuple[int, int]]:
        """nb_bilstm's words for Transform (text_vectorization.check_sizes), None for the others."""
        return None if self.word_max_tokens is None else (self.word_max_tokens, self.word_sequence_length)

    def to_custom_config(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: Optional[Dict[str, Any]]) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in (custom_config or {}).items() if k in known}
        if isinstance(given.get("bag"), dict):
            given["bag"] = cls.from_custom_config(given["bag"])
        return cls(**given)
