"""ServedModelBaseline: the model being served now, as the Evaluator's baseline.

The change threshold ("no worse than what users get today") needs a baseline. TFX's resolver cannot
run on open-source Kubeflow Pipelines (its Argo compiler refuses resolver executors), and gives the
last model *this* pipeline blessed, even if another was pushed or rolled back since. This reads the
Pusher's destination instead: its newest complete version (a numeric directory with a SavedModel) is
copied into a Model artifact in the Evaluator's layout (`Format-Serving`); with none, the artifact is
marked absent and only the threshold gates. It depends on the world outside the pipeline, so runners
must never cache it (`pipeline.pipeline.UNCACHED_NODES`).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, component_spec, standard_artifacts
from tfx.utils import io_utils, path_utils

SERVING_MODEL_DIR_KEY = "serving_model_dir"
MODEL_KEY = "model"
# Custom properties of the output: whether a served model was found, and which version.
FOUND_PROPERTY = "baseline_found"
VERSION_PROPERTY = "baseline_version"


def newest_served_version(serving_model_dir: str) -> Optional[str]:
    """The newest version directory TF Serving would load from SERVING_MODEL_DIR, or None."""
    if not fileio.exists(serving_model_dir):
        return None
    names = (name.rstrip("/") for name in fileio.listdir(serving_model_dir))
    versions = [int(name) for name in names
                if name.isdigit() and fileio.exists(os.path.join(serving_model_dir, name, "saved_model.pb"))]
    return str(max(versions)) if versions else None


def is_present(model: types.Artifact) -> bool:
    """False for the artifact written when nothing is served yet. Read as a plain value: on Kubeflow,
    custom properties come back as JSON values (1.0), which get_int_custom_property does not read."""
    return not model.has_custom_property(FOUND_PROPERTY) or bool(model.get_custom_property(FOUND_PROPERTY))


class ServedModelBaselineSpec(component_spec.ComponentSpec):
    PARAMETERS = {SERVING_MODEL_DIR_KEY: component_spec.ExecutionParameter(type=str)}
    INPUTS: Dict[str, component_spec.ChannelParameter] = {}
    OUTPUTS = {MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        base = exec_properties[SERVING_MODEL_DIR_KEY]
        version = newest_served_version(base)
        model.set_int_custom_property(FOUND_PROPERTY, int(version is not None))
        if version is None:
            return
        model.set_string_custom_property(VERSION_PROPERTY, version)
        io_utils.copy_dir(os.path.join(base, version), path_utils.serving_model_dir(model.uri))


class ServedModelBaseline(base_component.BaseComponent):
    """Outputs the newest model under the Pusher's destination (absent when there is none)."""

    SPEC_CLASS = ServedModelBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, serving_model_dir: str):
        super().__init__(spec=ServedModelBaselineSpec(
            serving_model_dir=serving_model_dir,
            model=types.Channel(type=standard_artifacts.Model)))
