"""What a run did, read back from ML Metadata, not the runner's logs: the summary is the same whether
each step ran or was served from the cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Optional

from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components import accuracy_gate
from components.imdb_example_gen import executor as example_gen_executor

_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.INTERNAL_OUTPUT)
_EXECUTION = metadata_store_pb2.Execution
_STATES = {_EXECUTION.COMPLETE: "ran", _EXECUTION.CACHED: "cached", _EXECUTION.FAILED: "failed",
           _EXECUTION.RUNNING: "running", _EXECUTION.CANCELED: "canceled"}


@dataclasses.dataclass
class ComponentRun:
    name: str
    state: str  # "ran", "cached", "failed", ...
    seconds: float


@dataclasses.dataclass
class RunSummary:
    components: List[ComponentRun]
    examples_per_split: Dict[str, int]
    skipped_or_repaired: Dict[str, int]
    test_accuracy: Optional[float]
    blessed: Optional[bool]
    pushed_to: Optional[str]
    model_run: Optional[str] = None  # the Trainer's model_run artifact: its history.json and logs
    anomalies: List[str] = dataclasses.field(default_factory=list)  # allowed with --allow-anomalies
    serving_canary: Optional[str] = None  # "passed|failed|not tried: why" (components/serving_canary.py)
    trained_on: Optional[str] = None  # devices and tf.distribute strategy of the Trainer
    examples: Optional[str] = None  # ExampleGen's artifact: the splits every model here saw
    evaluation: Optional[str] = None  # the Evaluator's TFMA output: metrics by slice, validation
    gate: Dict[str, float] = dataclasses.field(default_factory=dict)  # the Evaluator's thresholds as run
    pushed_version: Optional[str] = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    def render(self, wall_seconds: Optional[float] = None) -> str:
        issues = ", ".join(f"{k} {v}" for k, v in self.skipped_or_repaired.items() if v)
        anomalies = "".join(f"\n    - {a}" for a in self.anomalies)
        lines = ["", "Run summary",
                 "  examples: " + ", ".join(f"{s} {n:,}" for s, n in self.examples_per_split.items()),
                 "  reviews skipped (empty) or decoded with replacement (invalid UTF-8): " + (issues or "none"),
                 "  data anomalies: " + ("allowed by --allow-anomalies:" + anomalies if anomalies else "none")]
        if self.trained_on:
            lines.append(f"  trained on: {self.trained_on}")
        accuracy = "n/a" if self.test_accuracy is None else f"{self.test_accuracy:.4f}"
        lines += [f"  test accuracy: {accuracy}",
                  f"  blessed: {'n/a' if self.blessed is None else ('yes' if self.blessed else 'no')}",
                  f"  serving canary: {self.serving_canary or 'n/a'}",
                  f"  pushed to: {self.pushed_to or 'not pushed'}",
                  "  wall time per component:"]
        lines += [f"    {c.name:<32} {c.seconds:7.1f} s  {c.state}" for c in self.components]
        if wall_seconds is not None:
            lines.append(f"    {'total (with start-up)':<32} {wall_seconds:7.1f} s")
        return "\n".join(lines)


def state_name(execution: metadata_store_pb2.Execution) -> str:
    return _STATES.get(execution.last_known_state, "unknown")


def node_name(store: metadata_store.MetadataStore, execution_id: int) -> str:
    for context in store.get_contexts_by_execution(execution_id):
        if store.get_context_types_by_id([context.type_id])[0].name == "node":
            return context.name.split(".", 1)[-1]
    return f"execution {execution_id}"


def output_artifacts(store: metadata_store.MetadataStore, execution_id: int) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    """Output artifacts by key ("examples", "blessing", ...)."""
    by_key: Dict[str, List[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type in _OUTPUTS:
            key = event.path.steps[0].key if event.path.steps else ""
            by_key.setdefault(key, []).append(event.artifact_id)
    return {k: list(store.get_artifacts_by_id(ids)) for k, ids in by_key.items()}


def _custom(artifact, name: str):
    """A custom property of an artifact or execution, or None."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    sqlite = metadata_store_pb2.SqliteMetadataSourceConfig
    return metadata_store.MetadataStore(metadata_store_pb2.ConnectionConfig(
        sqlite=sqlite(filename_uri=metadata_path, connection_mode=sqlite.READONLY)))


def latest_run_executions(store: metadata_store.MetadataStore,
                          since_ms: int = 0) -> List[metadata_store_pb2.Execution]:
    """The executions of the newest pipeline run (started at or after SINCE_MS), oldest first."""
    runs = [c for c in store.get_contexts_by_type("pipeline_run") if c.create_time_since_epoch >= since_ms]
    if not runs:
        return []
    latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    return sorted(store.get_executions_by_context(latest.id), key=lambda e: e.id)


def summarize(metadata_path: str) -> RunSummary:
    """Summarizes the latest run recorded in the SQLite MLMD database at METADATA_PATH."""
    store = open_store(metadata_path)
    executions = latest_run_executions(store)
    if not executions:
        raise RuntimeError(f"no pipeline run recorded in {metadata_path}")

    components, outputs, gate = [], {}, {}
    for execution in executions:
        name = node_name(store, execution.id)
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        components.append(ComponentRun(name, state_name(execution), seconds))
        outputs[name] = output_artifacts(store, execution.id)
        if name == "Evaluator":
            gate = {key: _custom(execution, key) for key in (accuracy_gate.MIN_ACCURACY_KEY, accuracy_gate.MAX_DROP_KEY)
                    if _custom(execution, key) is not None}
    model_run = _uri(outputs, "Trainer", "model_run")
    return RunSummary(
        components=components, examples_per_split=_examples_per_split(outputs),
        skipped_or_repaired=_ingestion_issues(outputs), test_accuracy=_test_accuracy(outputs),
        blessed=next((bool(value) for artifact in outputs.get("Evaluator", {}).get("blessing", [])
                      if (value := _custom(artifact, "blessed")) is not None), None),
        pushed_to=_pushed(outputs, "pushed_destination"), model_run=model_run, anomalies=_anomalies(outputs),
        serving_canary=_serving_canary(outputs), trained_on=_trained_on(read_history(model_run)),
        examples=_uri(outputs, "ImdbExampleGen", "examples"), evaluation=_uri(outputs, "Evaluator", "evaluation"),
        gate=gate, pushed_version=_pushed(outputs, "pushed_version"))


def _uri(outputs, component: str, key: str) -> Optional[str]:
    return next((a.uri for a in outputs.get(component, {}).get(key, [])), None)


def _anomalies(outputs) -> List[str]:
    for artifact in outputs.get("ExampleValidator", {}).get("anomalies", []):
        if "anomalies" in artifact.custom_properties:
            value = artifact.custom_properties["anomalies"].struct_value
            return list(json_format.MessageToDict(value).get("__value__", []))
    return []


def read_history(model_run: Optional[str]) -> Dict:
    """The Trainer's history.json in its MODEL_RUN artifact, or {} when there is none."""
    from components.model.trainer import HISTORY_FILE

    path = model_run and os.path.join(model_run, HISTORY_FILE)
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _trained_on(history: Dict) -> Optional[str]:
    if "devices" not in history:
        return None
    return (f"{', '.join(history['devices'])} ({history['strategy']}, {history['replicas']} "
            f"replica{'s' if history['replicas'] > 1 else ''}, global batch {history['global_batch_size']})")


def _serving_canary(outputs) -> Optional[str]:
    for artifact in outputs.get("ServingCanary", {}).get("blessing", []):
        passed, reason = _custom(artifact, "blessed"), _custom(artifact, "reason")
        if passed is not None:
            verdict = "passed" if passed else ("failed" if _custom(artifact, "tried") != 0 else "not tried")
            return f"{verdict}: {reason}"
    return None


def _examples_per_split(outputs) -> Dict[str, int]:
    from tensorflow_data_validation import load_stats_binary

    counts = {}
    for artifact in outputs.get("StatisticsGen", {}).get("statistics", []):
        for split in json.loads(artifact.properties["split_names"].string_value):
            stats = load_stats_binary(os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb"))
            counts[split] = stats.datasets[0].num_examples
    return counts


def _ingestion_issues(outputs) -> Dict[str, int]:
    artifacts = outputs.get("ImdbExampleGen", {}).get("examples", [])
    return {issue: sum(_custom(a, name) or 0 for a in artifacts for name in a.custom_properties
                       if name.endswith("_" + issue)) for issue in example_gen_executor.ISSUES}


def _test_accuracy(outputs) -> Optional[float]:
    import tensorflow_model_analysis as tfma

    for artifact in outputs.get("Evaluator", {}).get("evaluation", []):
        for slice_metrics in tfma.load_metrics(artifact.uri):
            if slice_metrics.slice_key.single_slice_keys:
                continue  # not the overall slice
            for entry in slice_metrics.metric_keys_and_values:
                key = entry.key
                if key.name == "binary_accuracy" and not key.is_diff and key.model_name in ("", "candidate"):
                    return entry.value.double_value.value
    return None


def _pushed(outputs, prop: str) -> Optional[str]:
    """A property (pushed_destination, pushed_version) of the Pusher's output, if it pushed."""
    for artifact in outputs.get("Pusher", {}).get("pushed_model", []):
        if _custom(artifact, "pushed"):
            return _custom(artifact, prop)
    return None
