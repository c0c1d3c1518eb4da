"""A Pusher whose version directories appear whole or not at all.

TFX's filesystem Pusher copies the model straight into `<base>/<version>/`; a push killed
half-way leaves a partial version that TF Serving would try to load, and that a re-run skips
because the directory exists. This executor copies into a hidden sibling first (TF Serving
ignores names that are not numbers) and renames it into place, which is atomic on one file system.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils


STAGING_PREFIX = ".incomplete-"  # servers ignore names that are not numbers


def publish_version(model_path: str, base_directory: str) -> tuple:
    """Copies MODEL_PATH to a new `<base>/<version>/`, atomically; returns (path, version)."""
    fileio.makedirs(base_directory)
    version = int(time.time())
    while fileio.exists(os.path.join(base_directory, str(version))):
        version += 1
    staging = os.path.join(base_directory, f"{STAGING_PREFIX}{version}-{os.getpid()}")
    if fileio.exists(staging):
        fileio.rmtree(staging)
    final = os.path.join(base_directory, str(version))
    try:
        io_utils.copy_dir(model_path, staging)
        fileio.rename(staging, final)
    except BaseException:  # a full disk, a kill: leave no staging copy behind
        try:
            if fileio.exists(staging):
                fileio.rmtree(staging)
        except Exception:  # the next run's start removes it (pipeline/output_dir.py)
            pass
        raise
    return final, str(version)


class Executor(pusher_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher pushes to a filesystem destination only")
        model_path = self.GetModelPath(input_dict)
        serving_path, version = publish_version(model_path, destination.filesystem.base_directory)
        logging.info("Model published to %s", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)


class AtomicPusher(pusher_component.Pusher):
    """TFX's Pusher with the atomic executor; same inputs, outputs and parameters."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
