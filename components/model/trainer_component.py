"""The Trainer component: TFX's, with the number of epochs as a parameter of each run.

The hyperparameters travel as one JSON custom_config, which a Kubeflow run cannot change piece by
piece: epochs, the setting changed most, is its own property, merged in (and validated) when it runs.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union

from tfx import types
from tfx.components.trainer import component as trainer_component
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.model.hparams import TrainingConfig

EPOCHS_KEY = "epochs"


class TrainerSpec(standard_component_specs.TrainerSpec):
    PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS,
                  EPOCHS_KEY: component_spec.ExecutionParameter(type=int)}


class Executor(trainer_executor.GenericExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        properties = dict(exec_properties)
        key = standard_component_specs.CUSTOM_CONFIG_KEY
        config = json_utils.loads(properties.get(key) or "null") or {}
        config[EPOCHS_KEY] = int(properties.pop(EPOCHS_KEY))
        TrainingConfig.from_custom_config(config)  # a bad value fails here, named
        properties[key] = json_utils.dumps(config)
        super().Do(input_dict, output_dict, properties)


class Trainer(trainer_component.Trainer):
    """Trains the model with `run_fn` on Transform's output for EPOCHS epochs at most."""

    SPEC_CLASS = TrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, run_fn: str, examples: types.BaseChannel, transform_graph: types.BaseChannel,
                 schema: types.BaseChannel, train_splits: List[str], eval_split: str,
                 epochs: Union[int, data_types.RuntimeParameter], custom_config: Dict[str, Any]):
        spec = TrainerSpec(
            examples=examples, transform_graph=transform_graph, schema=schema,
            train_args=trainer_pb2.TrainArgs(splits=train_splits), eval_args=trainer_pb2.EvalArgs(splits=[eval_split]),
            run_fn=run_fn, custom_config=json_utils.dumps(custom_config), epochs=epochs,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun))
        base_component.BaseComponent.__init__(self, spec=spec)
