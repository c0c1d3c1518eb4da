"""What ML Metadata holds of a KFP run, read with MLMD's own client from the SQLite file behind the
local cluster's metadata-grpc-service (kubeflow/mlmd_service.py)."""

from __future__ import annotations

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from kubeflow import mlmd_service


def run_tasks(sqlite_path: str, run_id: str) -> dict:
    """Task name -> {"state": its execution's state, "outputs": {output name: {"uri", custom properties}}}."""
    store = metadata_store.MetadataStore(mlmd_service.connection_config(sqlite_path))
    context = store.get_context_by_type_and_name("system.PipelineRun", run_id)
    assert context is not None, f"no run {run_id} in ML Metadata"
    tasks = {}
    for execution in store.get_executions_by_context(context.id):
        if store.get_execution_types_by_id([execution.type_id])[0].name != "system.ContainerExecution":
            continue
        outputs = {}
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == metadata_store_pb2.Event.OUTPUT:
                [artifact] = store.get_artifacts_by_id([event.artifact_id])
                properties = {k: getattr(v, v.WhichOneof("value")) for k, v in artifact.custom_properties.items()}
                outputs[event.path.steps[0].key] = {"uri": artifact.uri, **properties}
        state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        tasks[execution.custom_properties["task_name"].string_value] = {"state": state, "outputs": outputs}
    return tasks
