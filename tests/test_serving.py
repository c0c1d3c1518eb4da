"""The local model server against TF Serving's API: real servers on loopback, ephemeral ports."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)
from tensorflow_serving.config import model_server_config_pb2

from commands import python
from console_lines import ConsoleLines
from common import features, serving_contract
from corpus import TRICKY_REVIEWS
from serving import tf_serving
from serving.client import SentimentClient, ServingRequestError
from serving.local_server import LocalModelServer
from serving.options import BatchingOptions, ServerOptions
from served_models import assert_answers, export_model, grpc_refusal, probabilities, publish

MODEL = "imdb_sentiment"
PREDICT = f"/v1/models/{MODEL}:predict"
REVIEWS = ["A wonderful, moving film.", "Dull plot, dull cast; the end.", "unknownzzz"] + TRICKY_REVIEWS[:3]


@pytest.fixture(scope="module")
def models(transform_output, tmp_path_factory):
    """Two different models: version 1 is served from the start, the other is pushed later."""
    root = tmp_path_factory.mktemp("served")
    return (export_model(transform_output, str(root / "model_a"), seed=1, epochs=3),
            export_model(transform_output, str(root / "model_b"), seed=2, epochs=0))


# Every API test runs on both REST stacks: httptools on uvloop (the default) and pure-Python h11 on asyncio.
@pytest.fixture(scope="module", params=[("httptools", "uvloop"), ("h11", "asyncio")], ids=["httptools", "h11"])
def server(models, tmp_path_factory, request):
    base = str(tmp_path_factory.mktemp("base") / MODEL)
    version = publish(models[0], base)
    http_parser, event_loop = request.param
    options = ServerOptions(MODEL, base, rest_port=0, grpc_port=0, poll_seconds=0.2,
                            labels={"stable": version}, max_body_bytes=4 * 2**20,
                            http_parser=http_parser, event_loop=event_loop)
    with LocalModelServer(options) as s:
        s.version = version
        yield s


def _post(server, path, body, **kwargs):
    return requests.post(f"{server.rest_url}{path}", data=body, timeout=30, **kwargs)


def test_rest_and_grpc_give_the_in_process_probabilities(server, models):
    assert_answers(server, REVIEWS, probabilities(models[0], REVIEWS))


def test_row_and_columnar_forms_and_their_response_forms(server, models):
    expected = probabilities(models[0], REVIEWS)
    for path, body, answer in [
            (PREDICT, {"instances": REVIEWS}, "predictions"),
            (PREDICT, {"instances": [{serving_contract.REVIEWS_INPUT: r} for r in REVIEWS]}, "predictions"),
            (f"/v1/models/{MODEL}/versions/{server.version}:predict",
             {"inputs": {serving_contract.REVIEWS_INPUT: REVIEWS}}, "outputs"),
            (f"/v1/models/{MODEL}/labels/stable:predict", {"inputs": REVIEWS}, "outputs")]:
        response = _post(server, path, json.dumps(body))
        assert response.status_code == 200 and list(response.json()) == [answer], (path, body)
        np.testing.assert_allclose(response.json()[answer], expected, atol=1e-6)


def test_signature_selection_with_b64_examples(server, models):
    examples = [tf.train.Example(features=tf.train.Features(feature={features.TEXT: tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[r.encode()]))})).SerializeToString() for r in REVIEWS]
    body = {"signature_name": serving_contract.EXAMPLES_SIGNATURE,
            "instances": [{"b64": base64.b64encode(e).decode()} for e in examples]}
    response = _post(server, PREDICT, json.dumps(body))
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], probabilities(models[0], REVIEWS), atol=1e-6)


def test_status_and_metadata_over_rest_and_grpc(server):
    status = requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=10).json()
    assert status == {"model_version_status": [{"version": str(server.version), "state": "AVAILABLE",
                                                "status": {"error_code": "OK", "error_message": ""}}]}
    metadata = requests.get(f"{server.rest_url}/v1/models/{MODEL}/metadata", timeout=10).json()
    signature_defs = metadata["metadata"]["signature_def"]["signature_def"]
    assert metadata["model_spec"] == {"name": MODEL, "signature_name": "", "version": str(server.version)}
    assert set(signature_defs) == {serving_contract.SERVING_SIGNATURE, serving_contract.EXAMPLES_SIGNATURE}
    assert list(signature_defs[serving_contract.SERVING_SIGNATURE]["inputs"]) == [serving_contract.REVIEWS_INPUT]

    with grpc.insecure_channel(server.grpc_target) as channel:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec={"name": MODEL},
                                                                 metadata_field=["signature_def"])
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=10)
        status_request = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": MODEL})
        statuses = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=10)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    assert response.model_spec.version.value == server.version
    assert serving_contract.PROBABILITY_OUTPUT in signature_map.signature_def[serving_contract.SERVING_SIGNATURE].outputs
    assert [(s.version, s.state) for s in statuses.model_version_status] == [
        (server.version, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


BAD_REQUESTS = [
    # (name, path, body, status, words of the error)
    ("malformed JSON", PREDICT, b'{"instances": ["a"', 400, "JSON Parse error"),
    ("empty body", PREDICT, b"", 400, "The document is empty"),
    ("not an object", PREDICT, b'["a"]', 400, "Is not object"),
    ("no instances or inputs", PREDICT, b'{"rows": ["a"]}', 400, "Missing 'inputs' or 'instances' key"),
    ("both instances and inputs", PREDICT, b'{"instances": ["a"], "inputs": ["a"]}', 400, "only one of"),
    ("instances not a list", PREDICT, b'{"instances": "a"}', 400, "to be an list/array"),
    ("empty instances", PREDICT, b'{"instances": []}', 400, "No values in 'instances' array"),
    ("number for a string", PREDICT, b'{"instances": [1, 2]}', 400, "is not of expected type: string"),
    ("null for a string", PREDICT, b'{"instances": [null]}', 400, "Type: Null is not of expected type"),
    ("wrong input name", PREDICT, b'{"instances": [{"text": "a"}]}', 400, "does not have named input: text"),
    ("wrong named input in columns", PREDICT, b'{"inputs": {"text": ["a"]}}', 400,
     "Missing named input: reviews"),
    ("ragged nesting", PREDICT, b'{"instances": [["a", "b"], ["c"]]}', 400, "unexpected size"),
    ("wrong rank", PREDICT, b'{"instances": [["a"], ["b"]]}', 400, "must have rank 1"),
    ("bad base64", PREDICT, b'{"instances": [{"b64": "***"}]}', 400, "Unable to base64 decode"),
    ("signature name not a string", PREDICT, b'{"signature_name": 3, "instances": ["a"]}', 400,
     "'signature_name' key must be a string value"),
    ("unknown signature", PREDICT, b'{"signature_name": "nope", "instances": ["a"]}', 400,
     'Serving signature name: "nope" not found in signature def'),
    ("non-UTF-8 bytes", PREDICT, b'{"instances": ["caf\xe9"]}', 400, "Invalid encoding in string"),
    ("unknown model", "/v1/models/nope:predict", b'{"instances": ["a"]}', 404,
     "Servable not found for request: Latest(nope)"),
    ("unknown version", f"/v1/models/{MODEL}/versions/7:predict", b'{"instances": ["a"]}', 404,
     f"Servable not found for request: Specific({MODEL}, 7)"),
    ("unknown label", f"/v1/models/{MODEL}/labels/canary:predict", b'{"instances": ["a"]}', 400,
     "Unrecognized servable version label: canary"),
    ("unknown method", f"/v1/models/{MODEL}:explain", b'{"instances": ["a"]}', 400, "Malformed request"),
    ("not the API", "/v2/whatever", b"{}", 404, "Malformed request"),
    ("20 MB body", PREDICT, b'{"instances": ["' + b"a" * (20 * 2**20) + b'"]}', 429, "exceeds the limit"),
]


@pytest.mark.parametrize("name, path, body, status, message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_tf_serving_errors_and_the_server_keeps_answering(server, name, path, body, status, message):
    response = _post(server, path, body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert list(response.json()) == ["error"] and message in response.json()["error"], response.text
    assert _post(server, PREDICT, json.dumps({"instances": ["still here?"]})).status_code == 200


@pytest.mark.parametrize("model_spec, inputs, code, message", [
    ({"name": "nope"}, None, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
    ({"name": MODEL, "version": {"value": 7}}, None, grpc.StatusCode.NOT_FOUND, f"Specific({MODEL}, 7)"),
    ({"name": MODEL, "signature_name": "nope"}, None, grpc.StatusCode.INVALID_ARGUMENT, '"nope" not found'),
    ({"name": MODEL}, {"text": [b"a review"]}, grpc.StatusCode.INVALID_ARGUMENT, "alias not found in signature: text"),
    ({"name": MODEL}, {serving_contract.REVIEWS_INPUT: [1.0]}, grpc.StatusCode.INVALID_ARGUMENT, ""),
])
def test_bad_grpc_requests_get_tf_serving_status_codes(server, model_spec, inputs, code, message):
    inputs = inputs or {serving_contract.REVIEWS_INPUT: [b"a review"]}
    request = predict_pb2.PredictRequest(model_spec=model_spec,
                                         inputs={k: tf.make_tensor_proto(v) for k, v in inputs.items()})
    refusal = grpc_refusal(server.grpc_target, request)
    assert refusal.code() == code and message in refusal.details()
    with SentimentClient(server.grpc_target, "grpc", MODEL) as client:
        assert len(client.predict(["still here?"])) == 1


def test_client_raises_the_servers_error(server):
    with SentimentClient(server.rest_url, "rest", "nope") as client, pytest.raises(ServingRequestError) as raised:
        client.predict(["a"])
    assert raised.value.status == 404 and "Latest(nope)" in raised.value.message


def _metrics(server) -> dict:
    text = requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=10).text
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_concurrent_requests_are_batched_and_counted(server):
    """64 one-review requests at once: counted one by one, and answered in fewer batches than requests
    (the counters' increase over this test only: earlier tests' requests are already in them)."""
    def one(i):
        return _post(server, PREDICT, json.dumps({"instances": [f"review number {i}"]})).status_code

    ok = f'serving_request_count_total{{api="rest",method="predict",model_name="{MODEL}",status="200"}}'
    before = _metrics(server)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert set(pool.map(one, range(64))) == {200}
    after = _metrics(server)
    assert after[f'serving_model_version{{model_name="{MODEL}"}}'] == server.version
    assert after[ok] - before.get(ok, 0) == 64
    reviews = after["serving_batch_size_sum"] - before.get("serving_batch_size_sum", 0)
    batches = after["serving_batch_size_count"] - before.get("serving_batch_size_count", 0)
    assert reviews == 64 and batches < 64


def test_hot_reload_under_load_loses_no_request(models, tmp_path):
    base = str(tmp_path / MODEL)
    first = publish(models[0], base)
    old, new = probabilities(models[0], REVIEWS[:2]), probabilities(models[1], REVIEWS[:2])
    assert np.abs(old - new).max() > 1e-3  # the two versions are told apart by their answers
    options = ServerOptions(MODEL, base, rest_port=0, grpc_port=0, poll_seconds=0.1,
                            batching=BatchingOptions(batch_timeout_micros=500))
    with LocalModelServer(options) as server:
        results, failures, stop = [], [], threading.Event()

        def client_loop(protocol, target):
            with SentimentClient(target, protocol, MODEL) as client:
                while not stop.is_set():
                    try:
                        results.append((time.monotonic(), np.array(client.predict(REVIEWS[:2]))))
                    except Exception as error:  # any failure is the test's failure
                        failures.append(repr(error))

        threads = [threading.Thread(target=client_loop, args=a) for a in
                   [("rest", server.rest_url), ("grpc", server.grpc_target)] * 2]
        for t in threads:
            t.start()
        time.sleep(1.0)
        pushed_at = time.monotonic()
        second = publish(models[1], base)
        deadline = time.monotonic() + 60
        while server.store.served_versions != [second] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()

    assert second > first and server.store.served_versions == [second]
    assert not failures, failures[:3]
    before = [p for t, p in results if t < pushed_at]
    last = [p for _, p in results[-8:]]
    assert before and all(np.allclose(p, old, atol=1e-6) for p in before)
    assert all(np.allclose(p, new, atol=1e-6) for p in last)
    assert all(np.allclose(p, old, atol=1e-6) or np.allclose(p, new, atol=1e-6) for _, p in results)


def test_predict_command_prints_labels_and_json(server, models):
    expected = probabilities(models[0], REVIEWS[:2])
    run = python("-m", "serving.cli", "predict", "--server", server.grpc_target, "--protocol", "grpc", "--json",
                 "--file", "-", input="\n".join(REVIEWS[:2]), timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # the gRPC stubs load TensorFlow; its start-up lines are dropped
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["review"] for line in lines] == REVIEWS[:2]
    np.testing.assert_allclose([line["probability"] for line in lines], expected, atol=1e-5)
    assert [line["label"] for line in lines] == ["positive" if p >= 0.5 else "negative" for p in expected]
    refused = python("-m", "serving.cli", "predict", "--server", server.rest_url, "--model-name", "nope", "a review",
                     timeout=120)
    assert refused.returncode == 1 and "Latest(nope)" in refused.stderr
    assert refused.stderr.startswith("error: the server refused the request") and refused.stderr.count("\n") == 1


def test_tf_serving_gets_generated_configs(tmp_path):
    options = ServerOptions(MODEL, str(tmp_path / MODEL), rest_port=8601, grpc_port=8600, num_versions=2,
                            batching=BatchingOptions(max_batch_size=16, batch_timeout_micros=1000))
    argv = tf_serving.command("/usr/bin/tensorflow_model_server", options, str(tmp_path / "config"))
    assert argv[:3] == ["/usr/bin/tensorflow_model_server", "--port=8600", "--rest_api_port=8601"]
    assert "--enable_batching" in argv
    flags = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
    config = text_format.Parse(open(flags["--model_config_file"]).read(), model_server_config_pb2.ModelServerConfig())
    model = config.model_config_list.config[0]
    assert (model.name, model.base_path, model.model_platform) == (MODEL, str(tmp_path / MODEL), "tensorflow")
    assert model.model_version_policy.latest.num_versions == 2
    assert "max_batch_size { value: 16 }" in open(flags["--batching_parameters_file"]).read()
    assert "/monitoring/prometheus/metrics" in open(flags["--monitoring_config_file"]).read()
    with pytest.raises(FileNotFoundError, match="not an executable"):
        tf_serving.find_binary(str(tmp_path / "missing"))


def test_serve_hands_a_remote_model_dir_to_tf_serving_unchanged(tmp_path, monkeypatch):
    from serving import cli

    binary = tmp_path / "tensorflow_model_server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    started = []

    def execv(path, argv):
        started.append(argv)
        raise SystemExit(0)  # where TF Serving would replace this process

    monkeypatch.setattr(os, "execv", execv)
    with pytest.raises(SystemExit):
        cli.serve(["--model-dir", "gs://bucket/serving/imdb_sentiment", "--model-server", str(binary)])
    flags = dict(a.split("=", 1) for a in started[0][1:] if "=" in a)
    config = text_format.Parse(open(flags["--model_config_file"]).read(), model_server_config_pb2.ModelServerConfig())
    assert config.model_config_list.config[0].base_path == "gs://bucket/serving/imdb_sentiment"


def test_a_broken_version_is_reported_and_the_last_good_one_kept_serving(models, tmp_path):
    base = tmp_path / MODEL
    good = publish(models[0], str(base))
    broken = base / str(good + 1)
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    options = ServerOptions(MODEL, str(base), rest_port=0, grpc_port=0, poll_seconds=0.1)
    with LocalModelServer(options) as server:
        status = requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=10).json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [(str(good + 1), "END"), (str(good), "AVAILABLE")]
        assert status[0]["status"]["error_message"]
        assert_answers(server, REVIEWS[:2], probabilities(models[0], REVIEWS[:2]))


def _cpu_ticks(pid: int) -> int:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_worker_processes_share_both_ports_and_stop_together(models, tmp_path):
    """`serve --processes 2`: connections spread over both workers (each does its share of the
    work), answers are the model's, and a worker killed takes the whole server down."""
    base = str(tmp_path / MODEL)
    publish(models[0], base)
    server = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--local", "--processes", "2",
                               "--model-dir", base, "--model-name", MODEL, "--rest-port", "0", "--grpc-port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text = "".join(ConsoleLines(server.stdout).until(lambda line: "Ctrl-C stops" in line))
        assert "with 2 worker processes" in text, text
        pids = [int(p) for p in text.split("worker processes (", 1)[1].split(")", 1)[0].split(", ")]
        rest_url = text.split("REST  ", 1)[1].split("/v1/", 1)[0]
        grpc_target = text.split("gRPC  ", 1)[1].split()[0]

        expected = probabilities(models[0], REVIEWS)
        before = {pid: _cpu_ticks(pid) for pid in pids}
        for _ in range(300):  # a new connection each: the kernel picks a worker per connection
            answer = requests.post(f"{rest_url}/v1/models/{MODEL}:predict", json={"instances": REVIEWS},
                                   headers={"Connection": "close"}, timeout=30)
            np.testing.assert_allclose(answer.json()["predictions"], expected, atol=1e-6)
        for _ in range(20):
            with SentimentClient(grpc_target, "grpc", MODEL) as client:
                np.testing.assert_allclose(client.predict(REVIEWS), expected, atol=1e-6)
        used = {pid: _cpu_ticks(pid) - before[pid] for pid in pids}
        assert min(used.values()) >= 0.2 * sum(used.values()), used

        os.kill(pids[0], 9)
        assert server.wait(timeout=60) == 1
        time.sleep(1)
        assert not os.path.exists(f"/proc/{pids[1]}") or open(f"/proc/{pids[1]}/stat").read().split()[2] == "Z"
    finally:
        if server.poll() is None:
            server.kill()
