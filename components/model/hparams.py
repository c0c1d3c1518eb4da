"""The Trainer's hyperparameters: one typed record, passed through the Trainer's custom_config."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

VARIANTS = ("one_hot", "embedding", "glove")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Defaults are the notebook's: BiLSTM(32), dropout 0.5, rmsprop, batch 32, up to 10 epochs."""

    variant: str = "embedding"
    epochs: int = 10
    batch_size: int = 32
    lstm_units: int = 32
    embedding_dim: int = 256  # learned embeddings only; GloVe brings its own dimension
    dropout: float = 0.5
    learning_rate: float = 0.001  # Keras' rmsprop default
    early_stopping_patience: int = 0  # 0: train all epochs, keep the best by validation loss
    glove_path: Optional[str] = None  # a glove.6B.<d>d.txt or glove.6B.zip; None: the packaged 50d
    glove_dim: int = 100  # which member of glove.6B.zip to use
    seed: int = 42

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"model variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        for name in ("epochs", "batch_size", "lstm_units", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    def to_custom_config(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: Optional[Dict[str, Any]]) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (custom_config or {}).items() if k in known})
