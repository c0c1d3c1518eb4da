"""`python tests/replica_training.py --replicas 2 --data DIR --workdir DIR`: the real Trainer on N
logical CPU devices, in a process of its own (logical devices can only be configured before
TensorFlow first uses them), after the real ImdbExampleGen, curated schema and Transform on
LocalDagRunner (from the cache when WORKDIR was used before). Prints one JSON line: the Trainer's
history fields naming the strategy, and the exported model's test accuracy through its serving signature."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

import synthetic_imdb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--replicas", type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--workdir", required=True)
    args = p.parse_args()

    import tensorflow as tf

    [cpu] = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.replicas)

    from tfx import v1 as tfx

    from common import features
    from components.curated_schema import CuratedSchemaGen
    from components.imdb_example_gen import ImdbExampleGen
    from components.model.hparams import TrainingConfig
    from components.model.trainer import HISTORY_FILE
    from components.model.trainer_component import Trainer
    from example_gen_runs import run_pipeline
    from pipeline import pipeline
    from served_models import probabilities

    example_gen = ImdbExampleGen(input_base=args.data, eval_fraction=0.2, sample_fraction=1.0)
    schema = CuratedSchemaGen(schema_file=pipeline.SCHEMA_FILE).with_id("ImportSchemaGen")
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
        preprocessing_fn=pipeline.PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(analyze=["train"], transform=["train", "eval"]),
        custom_config={"max_tokens": 200, "sequence_length": 48, "ngrams": 2, "encoding": features.SEQUENCE_ENCODING})
    training = TrainingConfig(variant="ngram_bag", optimizer="adam", learning_rate=0.01, embedding_dim=16,
                              batch_size=8, epochs=12)
    trainer = Trainer(
        run_fn=pipeline.RUN_FN, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"], schema=schema.outputs["schema"],
        train_splits=["train"], eval_split="eval", epochs=training.epochs,
        # The replica count in the Trainer's key, so each count trains (and the rest is cached).
        custom_config={**training.to_custom_config(), "replicas": args.replicas})
    store = run_pipeline("replicas", args.workdir, [example_gen, schema, transform, trainer], enable_cache=True)
    model_run = max(store.get_artifacts_by_type("ModelRun"), key=lambda a: a.id)
    model = max(store.get_artifacts_by_type("Model"), key=lambda a: a.id)
    with open(os.path.join(model_run.uri, HISTORY_FILE)) as f:
        history = json.load(f)
    reviews, labels = synthetic_imdb.read_test_split(args.data)
    probability = probabilities(os.path.join(model.uri, "Format-Serving"), reviews)
    accuracy = float(((probability > 0.5) == (np.array(labels) == 1)).mean())
    print(json.dumps({k: history[k] for k in ("strategy", "replicas", "devices", "global_batch_size")}
                     | {"accuracy": accuracy, "test_reviews": len(reviews)}), flush=True)


if __name__ == "__main__":
    main()
