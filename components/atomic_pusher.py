"""A Pusher whose versions TF Serving never loads half-written.

TFX's filesystem Pusher copies the model straight into `<base>/<version>/`, and TF Serving loads any
numbered child of the base path it polls (file_system_storage_path_source.cc), so a partial version
is served or fails. On a local file system the version is copied into a hidden sibling (a name that
is not a number) and renamed into place: atomic. On an object store a rename is a copy, object by
object, so the files go in the order TF Serving's loader can bear: the variables' data shards, their
index, the rest, `saved_model.pb` last. Until it lands a load fails (saved_model_bundle_factory:
MaybeSavedModelDirectory) and is retried (core/loader_harness.cc, 5 retries a minute apart). Never
the other order: a saved_model.pb without its variables.index loads "successfully" with no variables
restored (tensorflow/cc/saved_model/loader.cc, RunRestore). A failed copy removes what it wrote.
The output carries the `pushed`, `pushed_destination` and `pushed_version` properties TFX's sets.
"""

from __future__ import annotations

import contextlib
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
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")  # what makes a folder a SavedModel


def _copy_order(relative_path: str) -> tuple:
    """Data shards, then the index, then the rest, the SavedModel file itself last."""
    if relative_path.startswith("variables/"):
        return int(os.path.basename(relative_path) == "variables.index"), relative_path
    return (3 if relative_path in SAVED_MODEL_FILES else 2), relative_path


def _files(directory: str) -> List[str]:
    return [os.path.relpath(os.path.join(root, name), directory)
            for root, _, names in fileio.walk(directory) for name in names]


def copy_in_loading_order(source: str, destination: str) -> None:
    for relative in sorted(_files(source), key=_copy_order):
        target = os.path.join(destination, relative)
        fileio.makedirs(os.path.dirname(target))
        fileio.copy(os.path.join(source, relative), target, overwrite=True)


def publish_version(model_path: str, base_directory: str) -> tuple:
    """Copies MODEL_PATH to a new `<base>/<version>/` TF Serving cannot load half-written; returns (path, version)."""
    fileio.makedirs(base_directory)
    version = int(time.time())
    while fileio.exists(os.path.join(base_directory, str(version))):
        version += 1
    final = os.path.join(base_directory, str(version))
    local = "://" not in base_directory
    written = os.path.join(base_directory, f"{STAGING_PREFIX}{version}-{os.getpid()}") if local else final
    try:
        if local:
            io_utils.copy_dir(model_path, written)
            fileio.rename(written, final)
        else:
            copy_in_loading_order(model_path, final)
    except BaseException:  # a full disk, a kill: leave no partial copy behind
        with contextlib.suppress(Exception):  # else a local run's next start removes it (pipeline/output_dir.py)
            if fileio.exists(written):
                fileio.rmtree(written)
        raise
    return final, str(version)


class Executor(pusher_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            model_push.set_int_custom_property("pushed", 0)
            return
        destination = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], pusher_pb2.PushDestination())
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher pushes to a filesystem destination only")
        model_path = self.GetModelPath(input_dict)
        serving_path, version = publish_version(model_path, destination.filesystem.base_directory)
        logging.info("Model published to %s", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)
        model_push.set_int_custom_property("pushed", 1)
        model_push.set_string_custom_property("pushed_destination", serving_path)
        model_push.set_string_custom_property("pushed_version", version)


class AtomicPusher(pusher_component.Pusher):
    """TFX's Pusher with this executor; same inputs, outputs and parameters."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
