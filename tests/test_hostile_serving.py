"""Hostile requests to the model server, over real REST and gRPC on loopback.

Part of the project's hostile-input suite (README, "Reliability"): each case asserts the status
and message a client gets, and then that the server still answers a normal request correctly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from commands import NATIVE_LINE, python
from console_lines import ConsoleLines
from common import serving_contract
from serving.limits import RequestLimits
from serving.local_server import LocalModelServer
from serving.options import ServerOptions
from served_models import assert_answers, grpc_refusal, probabilities, publish

MODEL = "imdb_sentiment"
MAX_ROWS = 64
PREDICT = f"/v1/models/{MODEL}:predict"
HEALTHY = ["A wonderful, moving film.", "Dull plot, dull cast; the end."]


@pytest.fixture(scope="module")
def server(served_model, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("hostile_base") / MODEL)
    publish(served_model, base)
    options = ServerOptions(MODEL, base, rest_port=0, grpc_port=0, max_body_bytes=2 * 2**20,
                            limits=RequestLimits(max_rows=MAX_ROWS, timeout_seconds=20))
    with LocalModelServer(options) as s:
        s.expected = probabilities(served_model, HEALTHY)
        yield s


def _deep(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b'"a"' + b"]" * depth + b"}"


REST_CASES = [
    # (name, method, path, body, status, words of the error)
    ("JSON nested 10,000 deep", "POST", PREDICT, _deep(10_000), 400, "nested too deeply"),
    ("JSON nested 500 deep", "POST", PREDICT, _deep(500), 400, "nested 500 lists deep; at most 8"),
    ("a 100,000-digit number", "POST", PREDICT, b'{"instances": [' + b"9" * 100_000 + b"]}", 400,
     "JSON Parse error"),
    ("a 5,000-digit version", "POST", f"/v1/models/{MODEL}/versions/{'9' * 5000}:predict", b'{"instances": ["a"]}',
     400, "Failed to convert version"),
    ("a version past int64", "GET", f"/v1/models/{MODEL}/versions/9223372036854775808", None, 400,
     "Failed to convert version"),
    ("100,000 rows in 1.5 MB", "POST", PREDICT, json.dumps({"instances": ["ab"] * 100_000}).encode(), 400,
     f"at most {MAX_ROWS} per request"),
    ("rows over the limit, columnar", "POST", PREDICT, json.dumps({"inputs": ["ab"] * (MAX_ROWS + 1)}).encode(),
     400, f"at most {MAX_ROWS} per request"),
    ("a lone surrogate", "POST", PREDICT, b'{"instances": ["\\ud800"]}', 200, None),
    ("GET on predict", "GET", PREDICT, None, 400, "Malformed request"),
    ("an unknown route", "GET", "/v2/anything", None, 404, "Malformed request"),
]


@pytest.mark.parametrize("name, method, path, body, status, words", REST_CASES, ids=[c[0] for c in REST_CASES])
def test_rest(server, name, method, path, body, status, words):
    response = requests.request(method, f"{server.rest_url}{path}", data=body, timeout=60)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    if words:
        assert words in response.json()["error"]
    assert_answers(server, HEALTHY, server.expected)


def _string_tensor(values, dims) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=values,
                                  tensor_shape=tensor_shape_pb2.TensorShapeProto(
                                      dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))


def _request(tensor: tensor_pb2.TensorProto):
    return predict_pb2.PredictRequest(model_spec={"name": MODEL}, inputs={serving_contract.REVIEWS_INPUT: tensor})


GRPC_CASES = [
    # (name, request, words of its INVALID_ARGUMENT refusal)
    ("a 40-byte request declaring [1000000]", _request(_string_tensor([b"a"], [1_000_000])),
     f"at most {MAX_ROWS} per request"),
    ("a shape larger than its values", _request(_string_tensor([b"a"], [8])),
     "declares shape [8] (8 values) but carries 1"),
    ("more values than the shape", _request(_string_tensor([b"a", b"b", b"c"], [2])), "declares shape [2]"),
    ("a negative dimension", _request(_string_tensor([b"a"], [-1])), "invalid shape [-1]"),
    ("rank 9", _request(_string_tensor([b"a"], [1] * 9)), "invalid shape"),
    ("huge inner dimensions", _request(_string_tensor([], [1, 2**31, 2**31])), "holds more values than"),
    ("rows over the limit", _request(tf.make_tensor_proto([b"ab"] * (MAX_ROWS + 1))),
     f"at most {MAX_ROWS} per request"),
    ("an empty batch", _request(_string_tensor([], [0])), "non-empty batch"),
]


@pytest.mark.parametrize("name, request_, words", GRPC_CASES, ids=[c[0] for c in GRPC_CASES])
def test_grpc(server, name, request_, words):
    refusal = grpc_refusal(server.grpc_target, request_)
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT and words in refusal.details(), refusal.details()
    assert_answers(server, HEALTHY, server.expected)


@pytest.mark.parametrize("taken, refusal", [
    ("grpc", "cannot bind gRPC to 127.0.0.1:{port}: the port is in use"),
    ("rest", "cannot serve REST on 127.0.0.1:{port}"),
])
def test_a_second_server_on_a_taken_port_refuses_to_start(server, taken, refusal):
    port = getattr(server, f"{taken}_port")
    ports = {"rest_port": 0, "grpc_port": 0, f"{taken}_port": port}
    with pytest.raises(OSError, match=refusal.format(port=port)):
        LocalModelServer(ServerOptions(MODEL, server.options.base_path, **ports)).start()
    assert_answers(server, HEALTHY, server.expected)


def test_a_client_that_disconnects_mid_body_leaves_the_server_healthy(server):
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as raw:
        raw.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b'{"inst')
    assert_answers(server, HEALTHY, server.expected)


def test_a_body_shorter_than_its_content_length_is_answered_at_the_deadline(server):
    options = ServerOptions(MODEL, server.options.base_path, rest_port=0, grpc_port=0,
                            limits=RequestLimits(timeout_seconds=1))
    with LocalModelServer(options) as impatient:
        with socket.create_connection(("127.0.0.1", impatient.rest_port), timeout=10) as raw:
            raw.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode() + b'{"inst')
            answer = raw.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 504") and "not answered within 1 s" in answer, answer
    assert_answers(server, HEALTHY, server.expected)


def test_a_request_not_answered_in_time_gets_deadline_exceeded(server):
    options = ServerOptions(MODEL, server.options.base_path, rest_port=0, grpc_port=0,
                            limits=RequestLimits(timeout_seconds=1e-6))  # nothing can be answered that fast
    with LocalModelServer(options) as impatient:
        response = requests.post(f"{impatient.rest_url}{PREDICT}", json={"instances": HEALTHY}, timeout=60)
        assert response.status_code == 504 and "not answered within 1e-06 s" in response.json()["error"]
        refusal = grpc_refusal(impatient.grpc_target, _request(tf.make_tensor_proto([b"a"])))
        assert refusal.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_answers(server, HEALTHY, server.expected)


def test_serve_shows_each_version_it_loads_or_fails_to_and_logs_tensorflows_lines(served_model, tmp_path):
    base = str(tmp_path / MODEL)
    log = tmp_path / "serve.log"
    first = publish(served_model, base)
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "serve", "--local", "--model-dir", base, "--rest-port", "0",
         "--grpc-port", "0", "--poll-seconds", "0.2", "--log-file", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    console = ConsoleLines(process.stdout)
    lines = console.lines
    try:
        console.until(lambda line: "Ctrl-C stops" in line)
        assert any(f"loaded {MODEL} version {first} in " in line and "4 warm-up requests" in line for line in lines), lines
        second = publish(served_model, base)
        console.until(lambda line: f"unloaded {MODEL} version {first}" in line)
        assert any(f"loaded {MODEL} version {second} in " in line for line in lines), lines
        broken = tmp_path / "broken"  # a version that fails to load: one line here, its traceback in the log
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        os.rename(broken, os.path.join(base, str(second + 1)))
        console.until(lambda line: "failed to load" in line)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        console.rest()
    assert lines[0] == f"log: {log}\n"
    assert not NATIVE_LINE.search("".join(lines)), lines
    failed = [line for line in lines if "failed to load" in line]
    assert len(failed) == 1 and f"version {second + 1}: " in failed[0] and "Traceback" not in "".join(lines), lines
    text = log.read_text()
    assert NATIVE_LINE.search(text) and f"loaded {MODEL} version {second} in " in text, text[:2000]
    assert "Traceback" in text.split(f"failed to load {MODEL} version {second + 1}", 1)[1], text[-3000:]


@pytest.mark.parametrize("argv, words", [
    (["--label", "stable"], "LABEL=VERSION"),
    (["--max-batch-size", "0"], "max_batch_size"),
    (["--max-request-rows", "0"], "max_rows must be positive"),
    (["--request-timeout", "0"], "timeout_seconds must be positive"),
    (["--request-timeout", "nan"], "timeout_seconds must be positive"),
])
def test_serve_refuses_bad_options_before_looking_for_a_model(argv, words):
    no_model_dir = {**os.environ, "IMDB_OUTPUT_DIR": "/nonexistent"}
    run = python("-m", "serving.cli", "serve", "--local", *argv, timeout=120, env=no_model_dir)
    assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr
