"""The Trainer's hyperparameters: one typed record, passed through the Trainer's custom_config."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from common import features

# The notebook's three BiLSTMs; a bag of n-gram embeddings (fastText-style); and the default, NBSVM-style
# (a linear model over naive-Bayes-weighted n-grams), the only one that reads the naive_bayes_bag encoding.
BILSTM_VARIANTS = ("one_hot", "embedding", "glove")
VARIANTS = (*BILSTM_VARIANTS, "ngram_bag", "nb_ngrams")
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
    seed: int = 42
    mixed_precision: bool = False  # float16 compute, float32 weights, output and loss: GPUs' tensor cores
    # After choosing the epochs on the eval split, train afresh on train + eval for as many (trainer.py).
    refit_on_train_and_eval: bool = False

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"model variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        for name in ("learning_rate", "fine_tune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        for name in ("epochs", "batch_size", "lstm_units", "embedding_dim", "shuffle_buffer_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.fine_tune_epochs < 0:
            raise ValueError(f"fine_tune_epochs must be 0 or more, not {self.fine_tune_epochs}")
        if self.fine_tune_epochs and self.variant != "glove":
            raise ValueError(f"fine_tune_epochs applies to pretrained vectors (the glove variant), not {self.variant}")
        if self.fine_tune_epochs and self.refit_on_train_and_eval:
            raise ValueError("fine_tune_epochs and refit_on_train_and_eval cannot be combined")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def token_encoding(self) -> str:
        """The Transform encoding this variant's model reads (features.ENCODINGS)."""
        return features.NAIVE_BAYES_BAG_ENCODING if self.variant == "nb_ngrams" else features.SEQUENCE_ENCODING

    def to_custom_config(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: Optional[Dict[str, Any]]) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (custom_config or {}).items() if k in known})
