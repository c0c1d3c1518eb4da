"""Uploads the compiled pipeline to a Kubeflow Pipelines v2 server and starts a run (kfp.Client).

The pipeline is uploaded under its name, then as new versions of it: the server keeps what ran.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
import warnings
from typing import Any, Dict, Optional

import kfp
import urllib3
import yaml
from kfp_server_api.exceptions import ApiException

# kfp.Client warns on every construction that it needs a server of 2.0.0-beta.2 or later; KFP 2.17 is.
warnings.filterwarnings("ignore", "This client only works with Kubeflow Pipeline v2", FutureWarning)


class Refused(Exception):
    """The server answered an upload or a run with an error; the message is the server's."""

    @classmethod
    def from_api(cls, error: ApiException) -> "Refused":
        try:
            body = json.loads(error.body or "{}")
            message = body.get("error_message") or body.get("message") or error.body
        except (TypeError, ValueError):
            message = error.body or error.reason
        return cls(f"HTTP {error.status}: {message}")


class Unreachable(Exception):
    """The connection to the server failed or broke off without an answer (wrong host, server down or
    restarting): not the server's word, so what it did with a request in flight is unknown."""

    @classmethod
    def from_urllib3(cls, host: str, error: urllib3.exceptions.HTTPError, after: str = "") -> "Unreachable":
        # MaxRetryError carries the cause in .reason; ProtocolError in its arguments.
        return cls(f"{host}: {getattr(error, 'reason', None) or error}{after}")


@dataclasses.dataclass(frozen=True)
class Submitted:
    experiment_id: str
    pipeline_id: str
    pipeline_version_id: str
    run_id: str


def submit(pipeline_yaml: str, host: str, pipeline_name: str, experiment: str, run_name: Optional[str] = None,
           namespace: Optional[str] = None, parameters: Optional[Dict[str, Any]] = None,
           client: Optional[kfp.Client] = None) -> Submitted:
    """Raises Refused with the server's message when it refuses the upload or the run, Unreachable when
    it does not answer."""
    starting_run = False
    try:
        client = client or kfp.Client(host=host, namespace=namespace or "kubeflow")
        # Unique within a second too: two submissions at once must not upload under one version name.
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        # kfp.Client gets the experiment or else creates it, and _pipeline_version does the same with
        # the pipeline: not atomic, so a submission racing this one may create either first, and the
        # server answers HTTP 409 (pipeline_upload_server.go, experiment_server.go): then it exists.
        exp = _unless_conflict(lambda: client.create_experiment(name=experiment, namespace=namespace),
                               lambda: client.get_experiment(experiment_name=experiment, namespace=namespace))
        pipeline_id, version_id = _pipeline_version(client, pipeline_yaml, pipeline_name, namespace, stamp)
        starting_run = True
        run = client.run_pipeline(
            experiment_id=exp.experiment_id, job_name=run_name or f"{pipeline_name}-{stamp}",
            pipeline_id=pipeline_id, version_id=version_id, params=parameters or {},
            pipeline_root=pipeline_root(pipeline_yaml))
        return Submitted(exp.experiment_id, pipeline_id, version_id, run.run_id)
    except ApiException as error:
        raise Refused.from_api(error) from None
    except urllib3.exceptions.HTTPError as error:
        raise Unreachable.from_urllib3(host, error, "; it may have started the run: list its runs once it "
                                       "answers" if starting_run else "") from None


@dataclasses.dataclass(frozen=True)
class Ended:
    run_id: str
    state: str  # KFP's V2beta1RuntimeState: SUCCEEDED, FAILED, CANCELED, ...
    error: str
    tasks: Dict[str, str]  # each task's display name -> its state, as the API server reports them


ENDED = {"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"}
UNSETTLED = {"PENDING", "RUNNING", "CANCELING"}
# The API server stores an ended run's state before its tasks' (backend/src/apiserver/server/
# report_server.go, reportWorkflow: ReportWorkflowResource, then reportTasksFromExecution): read in
# between, a failed run's failed task still says RUNNING. How long to read again for them to follow.
TASKS_SETTLE_SECONDS = 60


def wait(host: str, run_id: str, timeout_seconds: float, namespace: Optional[str] = None,
         client: Optional[kfp.Client] = None, echo=print) -> Ended:
    """Polls the run until it ends and its tasks' states have followed, printing each task's state as it
    changes; TimeoutError if it has not ended after timeout_seconds, Unreachable if the server stops
    answering."""
    try:
        return _wait(client or kfp.Client(host=host, namespace=namespace or "kubeflow"), run_id,
                     timeout_seconds, echo)
    except urllib3.exceptions.HTTPError as error:
        raise Unreachable.from_urllib3(host, error) from None


def _wait(client: kfp.Client, run_id: str, timeout_seconds: float, echo) -> Ended:
    deadline, seen, ended_at = time.monotonic() + timeout_seconds, {}, None
    while True:
        run = client.get_run(run_id)
        # Not the Argo nodes KFP reports beside the tasks: drivers and `executor` (launcher) pods
        # (backend/src/v2/compiler/argocompiler: container.go, dag.go name them).
        tasks = {task.display_name: task.state for task in (run.run_details and run.run_details.task_details) or []
                 if task.display_name != "executor" and not task.display_name.endswith("driver")}
        for name, state in tasks.items():
            if seen.get(name) != state:
                echo(f"  {name}: {state}")
        seen = tasks
        if run.state in ENDED:
            ended_at = ended_at or time.monotonic()
            if UNSETTLED.isdisjoint(tasks.values()) or time.monotonic() - ended_at > TASKS_SETTLE_SECONDS:
                error = run.error.message if run.error else ""
                return Ended(run_id, run.state, error or "", tasks)
        elif time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.state} after {timeout_seconds / 60:.0f} min")
        time.sleep(5 if ended_at is None else 1)


def describe(ended: Ended) -> str:
    failed = sorted(name for name, state in ended.tasks.items() if state == "FAILED")
    line = f"run {ended.run_id}: {ended.state}"
    return line + (f" (failed: {', '.join(failed)})" if failed else "") + (f": {ended.error}" if ended.error else "")


def pipeline_root(pipeline_yaml: str) -> str:
    """The compiled spec's defaultPipelineRoot, which a run must carry itself: KFP's backend never
    reads it from the spec (backend/src/v2/driver/root_dag.go:97-118: the run's root, else the
    kfp-launcher config map's, else minio://mlpipeline/v2/artifacts)."""
    with open(pipeline_yaml) as f:
        return next(yaml.safe_load_all(f))["defaultPipelineRoot"]


def _pipeline_version(client: kfp.Client, pipeline_yaml: str, name: str, namespace: Optional[str], stamp: str):
    """(pipeline id, version id) of PIPELINE_YAML: a new pipeline NAME with it as its first version,
    or a new version of the existing one."""
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        uploaded = _unless_conflict(
            lambda: client.upload_pipeline(pipeline_yaml, pipeline_name=name, namespace=namespace), lambda: None)
        if uploaded is not None:
            return uploaded.pipeline_id, _first_version(client, uploaded.pipeline_id, name)
        pipeline_id = _listed_once_ready(client, name)  # a racing submission uploaded it first
    version = client.upload_pipeline_version(pipeline_yaml, pipeline_version_name=f"{name}-{stamp}",
                                             pipeline_id=pipeline_id)
    return pipeline_id, version.pipeline_version_id


def _first_version(client: kfp.Client, pipeline_id: str, name: str) -> str:
    """The version uploaded with the pipeline: the server names it after the pipeline
    (pipeline_upload_server.go:167), and names are unique within a pipeline. Not its oldest: creation
    times are in seconds, so a racing submission's version can tie with it."""
    only_it = json.dumps({"predicates": [{"key": "name", "operation": "EQUALS", "string_value": name}]})
    versions = client.list_pipeline_versions(pipeline_id=pipeline_id, filter=only_it).pipeline_versions or []
    if len(versions) != 1:
        raise Refused(f"pipeline {name} ({pipeline_id}): {len(versions)} versions named after it, not one")
    return versions[0].pipeline_version_id


def _listed_once_ready(client: kfp.Client, name: str, timeout_seconds: float = 60) -> str:
    """The id of the pipeline NAME a racing submission is uploading. The server refuses the name (409)
    as soon as its row exists but lists it only once READY, a statement later (resource/resource_manager.go,
    CreatePipelineAndPipelineVersion; storage/pipeline_store.go)."""
    deadline = time.monotonic() + timeout_seconds
    while (pipeline_id := client.get_pipeline_id(name)) is None:
        if time.monotonic() > deadline:
            raise Refused(f"pipeline {name} exists (HTTP 409), yet the server has not listed it "
                          f"within {timeout_seconds:.0f} s")
        time.sleep(0.2)
    return pipeline_id


def _unless_conflict(create, existing):
    try:
        return create()
    except ApiException as error:
        if error.status != 409:
            raise
        return existing()
