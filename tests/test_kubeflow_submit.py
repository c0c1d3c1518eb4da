"""`submit` against a local HTTP server answering the KFP v2 REST API, checking what it is sent.

The server refuses what KFP 2.17's API server refuses, by asking KFP's own backend code
(kfpcheck: the API server's upload and run creation): uploads that are not schema 2.1.0 and runs
whose pipeline has a resolver executor or whose parameters are undeclared or mistyped. Its error
replies have the shape of KFP's (HTTP 400, gRPC code 3, the backend's message).
"""

from __future__ import annotations

import email
import http.server
import json
import pathlib
import threading
import urllib.parse

import pytest
import yaml

from commands import python
from kubeflow import backend_rules, submit
from kubeflow_specs import compile_pipeline, kfp_verdict

PREFIX = "/apis/v2beta1"


class FakeKfp(http.server.BaseHTTPRequestHandler):
    """The subset of the KFP v2beta1 API that kfp.Client uses to upload and run a pipeline, with
    KFP 2.17's routes (../shared/kfp/pipelines-2.17.0/backend/): healthz, experiments, pipelines
    and their versions, runs from api/v2beta1/{healthz,experiment,pipeline,run}.proto's HTTP
    bindings; the multipart uploads from src/apiserver/main.go (the two /pipelines/upload*
    handlers) and server/pipeline_upload_server.go (form field "uploadfile"). Any other route is
    answered 404, which the tests refuse (`statuses`)."""

    state: dict  # set per server: experiments, pipelines, versions, runs, requests

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        self.state["statuses"].append(status)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> tuple:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.state["requests"].append((self.command, url.path, query, self.headers.get("Content-Type"), body))
        return url.path, query, body

    def _uploaded_file(self, body: bytes) -> str:
        message = email.message_from_bytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        [part] = [p for p in message.get_payload() if p.get_param("name", header="content-disposition") == "uploadfile"]
        return part.get_payload(decode=True).decode()

    def do_GET(self):
        path, query, _ = self._record()
        s = self.state
        if path == f"{PREFIX}/healthz":
            return self._reply(200, {"multi_user": False})
        if path in (f"{PREFIX}/experiments", f"{PREFIX}/pipelines"):
            collection = path.rsplit("/", 1)[1]
            name = json.loads(query["filter"])["predicates"][0]["stringValue"] if "filter" in query else None
            found = [item for item in s[collection] if name is None or item["display_name"] == name]
            return self._reply(200, {collection: found, "total_size": len(found)} if found else {})
        if path.startswith(f"{PREFIX}/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[-2]
            found = [v for v in s["versions"] if v["pipeline_id"] == pipeline_id][::-1]
            return self._reply(200, {"pipeline_versions": found, "total_size": len(found)})
        self._reply(404, {"error": f"no route {path}"})

    def _refuse(self, message: str) -> None:
        self._reply(400, {"error_message": message, "code": 3, "message": message})

    def do_POST(self):
        path, query, body = self._record()
        s = self.state
        if path == f"{PREFIX}/experiments":
            experiment = {**json.loads(body), "experiment_id": f"exp-{len(s['experiments']) + 1}"}
            s["experiments"].append(experiment)
            return self._reply(200, experiment)
        if path in (f"{PREFIX}/pipelines/upload", f"{PREFIX}/pipelines/upload_version"):
            verdict = kfp_verdict(self._uploaded_file(body))
            if verdict.get("stage") in ("read", "upload"):
                return self._refuse(verdict["error"])
            pipeline = {"pipeline_id": query.get("pipelineid", f"pl-{len(s['pipelines']) + 1}"),
                        "display_name": query["name"]}
            version = {**pipeline, "pipeline_version_id": f"pv-{len(s['versions']) + 1}",
                       "package": self._uploaded_file(body)}
            s["versions"].append(version)
            if path.endswith("/upload_version"):
                return self._reply(200, {k: v for k, v in version.items() if k != "package"})
            s["pipelines"].append(pipeline)
            return self._reply(200, pipeline)
        if path == f"{PREFIX}/runs":
            run = {**json.loads(body), "run_id": f"run-{len(s['runs']) + 1}"}
            [version] = [v for v in s["versions"]
                         if v["pipeline_version_id"] == run["pipeline_version_reference"]["pipeline_version_id"]]
            verdict = kfp_verdict(version["package"], run.get("runtime_config", {}).get("parameters", {}))
            if not verdict["accepted"]:
                return self._refuse(verdict["error"])
            s["runs"].append(run)
            return self._reply(200, run)
        self._reply(404, {"error": f"no route {path}"})


@pytest.fixture
def kfp_server():
    state = {"experiments": [], "pipelines": [], "versions": [], "runs": [], "requests": [], "statuses": []}
    handler = type("Handler", (FakeKfp,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    compiled, _ = compile_pipeline(tmp_path_factory.mktemp("compiled"))
    return pathlib.Path(compiled.pipeline_yaml)


def test_first_submit_uploads_the_pipeline_then_runs_it(kfp_server, package):
    host, state = kfp_server
    done = submit.submit(str(package), host, "imdb-sentiment", "imdb", run_name="nightly",
                         parameters={"min_accuracy": 0.86})
    assert (done.experiment_id, done.pipeline_id, done.pipeline_version_id, done.run_id) == ("exp-1", "pl-1", "pv-1", "run-1")
    assert state["experiments"][0]["display_name"] == "imdb"
    assert state["versions"][0]["package"] == package.read_text()  # the compiled file, as is
    [run] = state["runs"]
    assert run["display_name"] == "nightly" and run["experiment_id"] == "exp-1"
    assert run["pipeline_version_reference"] == {"pipeline_id": "pl-1", "pipeline_version_id": "pv-1"}
    assert run["runtime_config"]["parameters"] == {"min_accuracy": 0.86}
    # KFP's backend never reads the spec's defaultPipelineRoot (v2/driver/root_dag.go:97-118: the
    # run's root, else the kfp-launcher config map's, else minio://mlpipeline/v2/artifacts).
    assert run["runtime_config"]["pipeline_root"] == yaml.safe_load_all(package.read_text()).__next__()[
        "defaultPipelineRoot"]
    assert set(state["statuses"]) == {200}  # every call it made is one the KFP API has
    assert [r[1] for r in state["requests"] if r[0] == "POST"] == [
        f"{PREFIX}/experiments", f"{PREFIX}/pipelines/upload", f"{PREFIX}/runs"]


def test_a_second_submit_adds_a_version_and_reuses_the_experiment(kfp_server, package):
    host, state = kfp_server
    submit.submit(str(package), host, "imdb-sentiment", "imdb")
    done = submit.submit(str(package), host, "imdb-sentiment", "imdb")
    assert len(state["pipelines"]) == 1 and len(state["experiments"]) == 1
    assert done.pipeline_version_id == "pv-2"
    assert state["versions"][1]["display_name"].startswith("imdb-sentiment-")
    assert state["runs"][1]["pipeline_version_reference"]["pipeline_version_id"] == "pv-2"


def test_submit_command(kfp_server, package):
    host, state = kfp_server
    result = python("-m", "kubeflow.cli", "submit", "--host", host, "--package", str(package), "--experiment", "imdb",
                    "--run-name", "from-cli", "--namespace", "team-a", "--param", "epochs=3",
                    "--param", "data=gs://bucket/data/drop-2", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "run run-1 started" in result.stdout
    assert state["runs"][0]["runtime_config"]["parameters"] == {"epochs": 3, "data": "gs://bucket/data/drop-2"}
    assert state["experiments"][0]["namespace"] == "team-a"
    [upload] = [r for r in state["requests"] if r[1] == f"{PREFIX}/pipelines/upload"]
    assert upload[2]["namespace"] == "team-a"


def test_the_server_refuses_an_old_schema_and_submit_says_so(kfp_server, package, tmp_path):
    host, state = kfp_server
    old = tmp_path / "old.yaml"
    old.write_text(package.read_text().replace("schemaVersion: 2.1.0", "schemaVersion: 2.0.0"))
    result = python("-m", "kubeflow.cli", "submit", "--host", host, "--package", str(old), timeout=120)
    assert result.returncode == 1
    assert "KFP only supports schema version 2.1.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not state["runs"]


@pytest.mark.parametrize("case", ["a resolver", "a mistyped parameter", "an undeclared parameter"])
def test_submit_raises_kfps_refusal_of_the_run_and_starts_none(kfp_server, package, tmp_path, case):
    host, state = kfp_server
    [(bad, parameters, phrase)] = [rest for name, *rest in _bad_packages(package.read_text()) if name == case]
    refused = tmp_path / "refused.yaml"
    refused.write_text(bad)
    with pytest.raises(Exception, match=phrase):
        submit.submit(str(refused), host, "imdb-sentiment", "imdb", parameters=parameters)
    assert not state["runs"]


def _bad_packages(text: str):
    """(case, package text, run parameters, a phrase of KFP's refusal) for what KFP 2.17 refuses."""
    spec, platform = yaml.safe_load_all(text)
    yield "schema 2.0.0", text.replace("schemaVersion: 2.1.0", "schemaVersion: 2.0.0"), {}, \
        "KFP only supports schema version 2.1.0"
    resolver = yaml.safe_load(yaml.safe_dump(spec))
    resolver["deploymentSpec"]["executors"]["Pusher_executor"] = {"resolver": {"outputArtifactQueries": {}}}
    yield "a resolver", yaml.safe_dump_all([resolver, platform]), {}, \
        "non-container and non-importer executor not implemented"
    exits_only = yaml.safe_load(yaml.safe_dump(spec))
    for task in exits_only["root"]["dag"]["tasks"].values():
        task["triggerPolicy"] = {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    yield "exit tasks only", yaml.safe_dump_all([exits_only, platform]), {}, \
        "DAG root must contain one or more non-exit tasks"
    yield "a mistyped parameter", text, {"min_accuracy": "high"}, "min_accuracy requires type double or integer"
    yield "an undeclared parameter", text, {"learning_rate": 0.1}, "not required by pipeline: learning_rate"
    for root, phrase in (("/mnt/tfx/root", "unrecognized pipeline root format"),
                         ("file:///mnt/tfx/root", "unsupported Cloud bucket")):
        rooted = dict(spec, defaultPipelineRoot=root)
        yield f"pipeline root {root}", yaml.safe_dump_all([rooted, platform]), {}, phrase


def test_the_backend_rules_refuse_what_kfps_own_code_refuses(package):
    """kubeflow/backend_rules.py stands in for KFP where its code cannot run (`./imdb compile`):
    on each spec KFP's code refuses, it must refuse too, with KFP's message; and accept the rest."""
    text = package.read_text()
    assert kfp_verdict(text)["accepted"]
    backend_rules.load_upload(text).check_run({})
    for case, bad, parameters, phrase in _bad_packages(text):
        verdict = kfp_verdict(bad, parameters)
        assert not verdict["accepted"] and phrase in verdict["error"], (case, verdict)
        with pytest.raises(backend_rules.Refused, match=phrase):
            backend_rules.load_upload(bad).check_run(parameters)
