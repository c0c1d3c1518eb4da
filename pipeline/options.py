"""The pipeline's own options, here so that the commands that run or compile it (`./imdb run`,
`compile`, `benchmark`) share them without importing each other. Help texts print the defaults
of pipeline/configs.py, so that no default is written twice."""

from __future__ import annotations

import argparse
import dataclasses

from common import paths
from components.model import hparams
from pipeline import configs


def add_pipeline_options(p: argparse.ArgumentParser, full_by_default: bool = False, remote_data: bool = False) -> None:
    """FULL_BY_DEFAULT: all the reviews unless --sample-fraction says otherwise. REMOTE_DATA: --data
    is required and names the data as the pipeline's pods see it (Kubeflow)."""
    glove = configs.VARIANT_DEFAULTS["glove"].training
    data = p.add_argument_group("data")
    if remote_data:
        data.add_argument("--data", required=True, help="the aclImdb archive or folder as the pods see it (gs://...)")
    else:
        data.add_argument("--data", help="aclImdb folder, or its .tar.gz (default: $IMDB_DATA; "
                          "else the official archive, downloaded once into the cache)")
    size = data.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="use all 50,000 reviews")
    size.add_argument("--sample-fraction", type=float,
                      default=1.0 if full_by_default else configs.DEFAULT_SAMPLE_FRACTION,
                      help="share of every split to use (default %(default)g)")
    data.add_argument("--eval-fraction", type=float, default=configs.DEFAULT_EVAL_FRACTION,
                      help="share of aclImdb/train held out as the eval split (default %(default)g)")
    data.add_argument("--train-parts", type=int, default=configs.PipelineSettings.train_parts,
                      help="write the training reviews as this many splits, each read on its own: on Flink, "
                           f"one per {configs.FLINK_TRAIN_REVIEWS_PER_SPLIT:,} (docs/scaling.md; default %(default)d)")

    text = p.add_argument_group("text vectorization (defaults: the variant's, pipeline/configs.py)")
    text.add_argument("--max-tokens", type=int, help="vocabulary size, padding and OOV ids included")
    text.add_argument("--sequence-length", type=int, help="tokens kept per review")
    text.add_argument("--ngrams", type=int, help="2: words and word pairs, as TextVectorization(ngrams=2)")

    model = p.add_argument_group("model (defaults: the variant's, pipeline/configs.py)")
    model.add_argument("--variant", choices=hparams.VARIANTS, default=configs.DEFAULT_VARIANT,
                       help="default %(default)s. nb_ngrams: NBSVM-style; ngram_bag: averaged n-gram "
                            "embeddings; one_hot, embedding, glove: the notebook's BiLSTMs; nb_bilstm: "
                            "nb_ngrams and the GloVe BiLSTM, blended")
    model.add_argument("--epochs", type=int, help="most epochs to train (default, on a sample/on all the data: " + "; ".join(
        f"{variant} {d.sample_epochs}/{d.training.epochs}" for variant, d in configs.VARIANT_DEFAULTS.items()) + ")")
    model.add_argument("--batch-size", type=int)
    model.add_argument("--embedding-dim", type=int)
    model.add_argument("--optimizer", choices=hparams.OPTIMIZERS)
    model.add_argument("--learning-rate", type=float)
    model.add_argument("--early-stopping-patience", type=int,
                       help="stop this many epochs after the best validation loss (0: never)")
    model.add_argument("--glove-path", help="glove.6B.<d>d.txt or glove.6B.zip, local or gs:// "
                       "(default: the packaged GloVe 6B 50d vectors)")
    model.add_argument("--glove-dim", type=int, help=f"member of glove.6B.zip to use (default {glove.glove_dim})")
    model.add_argument("--fine-tune-epochs", type=int,
                       help="glove: epochs with the vectors trainable after the frozen ones "
                            f"(default {glove.fine_tune_epochs}; 0: frozen throughout)")
    model.add_argument("--fine-tune-learning-rate", type=float,
                       help=f"glove: learning rate while fine-tuning (default {glove.fine_tune_learning_rate:g})")
    buckets = "; ".join(f"{v} {configs.VARIANT_DEFAULTS[v].training.bucket_width}"
                        for v in (*hparams.BILSTM_VARIANTS, hparams.BLENDED_VARIANT))
    model.add_argument("--bucket-width", type=int,
                       help="BiLSTMs: train on reviews grouped by length, each batch padded to the next multiple of "
                            f"this many tokens, padding masked (default {buckets}; 0: every review padded to the "
                            "sequence length and all of it read, as in the notebook)")
    model.add_argument("--seed", type=int, help="seeds the Trainer's initial weights, dropout and shuffling "
                       f"(default {hparams.TrainingConfig.seed})")
    model.add_argument("--mixed-precision", action="store_true",
                       help="float16 compute, float32 weights, output and loss (GPUs with tensor cores)")

    gate = p.add_argument_group("evaluation gate")
    gate.add_argument("--min-accuracy", type=float,
                      help=f"test accuracy needed to push (default {configs.DEFAULT_MIN_ACCURACY_SAMPLE} "
                           f"on a sample, {configs.DEFAULT_MIN_ACCURACY_FULL} on all the data)")
    gate.add_argument("--max-accuracy-drop", type=float, default=configs.DEFAULT_MAX_ACCURACY_DROP,
                      help="how much worse than the model being served is still pushed (default %(default)g)")
    gate.add_argument("--allow-anomalies", action="store_true",
                      help="proceed when the data breaks the curated schema (components/schema/schema.pbtxt); "
                           "the anomalies are listed in the summary")


def settings_from(args: argparse.Namespace, data_path: str) -> configs.PipelineSettings:
    sample = 1.0 if args.full else args.sample_fraction
    full = sample >= 1.0
    defaults = configs.VARIANT_DEFAULTS[args.variant]
    training = dataclasses.replace(
        defaults.training, **_given(args, "batch_size", "embedding_dim", "optimizer", "learning_rate",
                                    "early_stopping_patience", "glove_dim", "fine_tune_epochs", "fine_tune_learning_rate",
                                    "bucket_width", "seed"),
        epochs=args.epochs if args.epochs is not None else (defaults.training.epochs if full else defaults.sample_epochs),
        glove_path=paths.absolute(args.glove_path) or defaults.training.glove_path,
        mixed_precision=args.mixed_precision or defaults.training.mixed_precision)
    min_accuracy = args.min_accuracy if args.min_accuracy is not None else (
        configs.DEFAULT_MIN_ACCURACY_FULL if full else configs.DEFAULT_MIN_ACCURACY_SAMPLE)
    return configs.PipelineSettings.for_variant(
        data_path, training, min_accuracy, max_accuracy_drop=args.max_accuracy_drop, eval_fraction=args.eval_fraction,
        sample_fraction=sample, train_parts=args.train_parts, allow_anomalies=args.allow_anomalies, **_given(args, "max_tokens", "sequence_length", "ngrams"))


def _given(args: argparse.Namespace, *names: str) -> dict:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}
