"""The pipeline's shape, in one place, for every runner (local Beam and Kubeflow Pipelines).

Runners only decide paths, platform settings and which values are run parameters. The pipeline
has no resolver (open-source Kubeflow cannot run them), so it is the same DAG on every orchestrator:
the Evaluator's baseline is the model being served, found by `ServedModelBaseline`.
"""

from __future__ import annotations

import pathlib
from typing import List, Optional, Union

from google.protobuf import message
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

import components
from common import features
from components import (accuracy_gate, anomaly_gate, apply_transform, atomic_pusher, served_baseline,
                        serving_canary, text_vectorization)
from components.curated_schema import CuratedSchemaGen
from components.imdb_example_gen import ImdbExampleGen
from components.model.hparams import TrainingConfig
from components.model.trainer_component import Trainer
from pipeline import configs
from pipeline.fingerprints import CODE_FINGERPRINT_KEY, all_fingerprints

PREPROCESSING_FN = "components.text_vectorization.preprocessing_fn"
RUN_FN = "components.model.trainer.run_fn"
# The curated schema every run's data must satisfy, as this checkout has it (images: IMAGE_SCHEMA_FILE).
SCHEMA_FILE = str(pathlib.Path(components.__file__).resolve().parent / "schema" / "schema.pbtxt")
BASELINE_NODE = "ServedModelBaseline"
# Nodes whose result depends on the world outside the pipeline: no runner may serve them from a cache.
UNCACHED_NODES = (BASELINE_NODE,)

# What a user may change per run without recompiling (Kubeflow run parameters): argument of
# create_pipeline -> (run parameter name, type).
RUN_PARAMETERS = {"data_path": ("data", str), "min_accuracy": ("min_accuracy", float),
                  "max_accuracy_drop": ("max_accuracy_drop", float), "epochs": ("epochs", int)}
RuntimeParameter = tfx.dsl.experimental.RuntimeParameter


def create_pipeline(
    pipeline_name: str, pipeline_root: str, data_path: Union[str, RuntimeParameter], serving_model_dir: str,
    model_name: str, training: TrainingConfig, min_accuracy: Union[float, RuntimeParameter],
    max_accuracy_drop: Union[float, RuntimeParameter] = configs.DEFAULT_MAX_ACCURACY_DROP,
    epochs: Union[int, RuntimeParameter, None] = None, allow_anomalies: bool = False, schema_file: str = SCHEMA_FILE,
    *, max_tokens: int, sequence_length: int, ngrams: int, eval_fraction: float, sample_fraction: float,
    train_parts: int = 1,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Optional[List[str]] = None, enable_cache: bool = True,
    trainer_resources: Optional[message.Message] = None,
) -> tfx.dsl.Pipeline:
    """ExampleGen -> statistics, schema, validation -> Transform -> ApplyTransform -> Trainer -> Evaluator ->
    canary -> Pusher.

    RUN_PARAMETERS' values may be RuntimeParameters (Kubeflow); `epochs` defaults to training.epochs.
    trainer_resources: the Trainer container's CPU, memory and GPUs (Kubeflow's ResourceSpec), typed as
    any proto so that the pipeline needs no orchestrator's package. train_parts: the training reviews as
    that many splits, each read on its own (features.train_splits: for Flink, above ~400,000 of them)."""
    code = all_fingerprints()  # each component's own code: editing it re-runs that component
    example_gen = ImdbExampleGen(
        input_base=data_path, eval_fraction=eval_fraction, sample_fraction=sample_fraction, train_parts=train_parts,
        code_fingerprint=code["ImdbExampleGen"])
    train_splits = features.train_splits(train_parts)
    examples = example_gen.outputs["examples"]

    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = CuratedSchemaGen(schema_file=schema_file, code_fingerprint=code["ImportSchemaGen"]).with_id(
        "ImportSchemaGen")
    schema = schema_gen.outputs["schema"]
    example_validator = anomaly_gate.GatedExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema,
        allow_anomalies=allow_anomalies, code_fingerprint=code["ExampleValidator"]).with_id("ExampleValidator")

    transformed_splits = [*train_splits, features.EVAL_SPLIT]
    transform = tfx.components.Transform(
        examples=examples, schema=schema, preprocessing_fn=PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(analyze=train_splits, transform=transformed_splits),
        # ApplyTransform writes the transformed examples, a file for each of ExampleGen's: Transform's own writer
        # leaves their number to the runner, one file a split in process and on Flink (components/apply_transform.py).
        materialize=False,
        # TFT's analyzer cache serves spans added later; here one split is analyzed, again only when its
        # data or code changes: the cache was pure cost (writing it took longer than the analysis).
        disable_analyzer_cache=True,
        # No pre- and post-transform statistics: StatisticsGen has the raw data's, nothing reads the ids', and on
        # Flink the statistics' copy of the transformed rows doubled what one bundle sends back (docs/scaling.md).
        disable_statistics=True,
        custom_config={
            text_vectorization.MAX_TOKENS_KEY: max_tokens,
            text_vectorization.SEQUENCE_LENGTH_KEY: sequence_length,
            text_vectorization.NGRAMS_KEY: ngrams,
            text_vectorization.ENCODING_KEY: training.token_encoding,
            **({text_vectorization.WORD_MAX_TOKENS_KEY: training.word_max_tokens,
                text_vectorization.WORD_SEQUENCE_LENGTH_KEY: training.word_sequence_length}
               if training.word_sizes else {}),
            CODE_FINGERPRINT_KEY: code["Transform"],
        })
    transform.add_upstream_node(example_validator)  # bad data stops the run before Transform
    transform_graph = transform.outputs["transform_graph"]
    applied = apply_transform.ApplyTransform(examples=examples, transform_graph=transform_graph,
                                             splits=transformed_splits, code_fingerprint=code["ApplyTransform"])

    trainer = Trainer(
        run_fn=RUN_FN, examples=applied.outputs[apply_transform.TRANSFORMED_EXAMPLES_KEY],
        transform_graph=transform_graph, schema=schema,
        train_splits=train_splits, eval_split=features.EVAL_SPLIT,
        epochs=training.epochs if epochs is None else epochs,
        custom_config={**training.to_custom_config(), CODE_FINGERPRINT_KEY: code["Trainer"]})
    if trainer_resources is not None:
        trainer.with_platform_config(trainer_resources)
    model = trainer.outputs["model"]

    baseline = served_baseline.ServedModelBaseline(serving_model_dir=serving_model_dir).with_id(BASELINE_NODE)

    evaluator = accuracy_gate.GatedEvaluator(
        examples=examples, model=model, baseline_model=baseline.outputs["model"], min_accuracy=min_accuracy,
        max_accuracy_drop=max_accuracy_drop, example_splits=[features.TEST_SPLIT],
        code_fingerprint=code["Evaluator"]).with_id("Evaluator")
    blessing = evaluator.outputs["blessing"]

    canary = serving_canary.ServingCanary(
        model=model, model_blessing=blessing, examples=examples, model_name=model_name,
        code_fingerprint=code["ServingCanary"]).with_id("ServingCanary")

    pusher = atomic_pusher.AtomicPusher(
        model=model, model_blessing=blessing, infra_blessing=canary.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)),
        custom_config={CODE_FINGERPRINT_KEY: code["Pusher"]},
    ).with_id("Pusher")

    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, applied,
                    trainer, baseline, evaluator, canary, pusher],
        enable_cache=enable_cache, metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [])
