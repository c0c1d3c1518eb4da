"""TF Serving's REST API for the served model, as an ASGI app (uvicorn serves it). An adapter, as TF
Serving's http_rest_api_handler is: URL and JSON become gRPC's calls on the same Predictor, its protos JSON.

    GET  /v1/models/{name}[/versions/{v}]                         model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signatures
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     row or columnar predict
    GET  /monitoring/prometheus/metrics
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Awaitable, Callable

from google.protobuf import json_format

from serving import errors, grpc_api, json_codec, metrics, options
from serving.predictor import Predictor

# The URL grammar of TF Serving's REST handler: model, then an optional version or label (not for
# status), then an optional :method (GET only for status and /metadata).
_MODEL_URL = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<method>predict|classify|regress))?$")
_MODEL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]


def _version(text):
    """A version from the URL; TF Serving's error for one that is not an int64."""
    if not text:
        return None
    if len(text) > 19 or int(text) >= 2**63:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise errors.invalid_argument(f"Failed to convert version: {shown} to numeric.")
    return int(text)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _body(scope: dict, receive: Receive, limit: int) -> bytes:
    declared = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"content-length"), None)
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.resource_exhausted(f"Request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.resource_exhausted(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def create_app(predictor: Predictor, max_body_bytes: int = options.DEFAULT_MAX_BODY_BYTES):
    """The ASGI app. Plain ASGI rather than a framework: one URL grammar needs no router, and a
    framework's layers (middleware, request and response objects) cost more Python per request
    than the JSON and the batching together (docs/serving.md, "What the runs show")."""

    async def app(scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # uvicorn runs with lifespan off: nothing else arrives
            return
        path, method = scope["path"], scope["method"]
        if path == metrics.PATH and method in ("GET", "HEAD"):
            return await _respond(send, 200, predictor.metrics.exposition(), b"text/plain; version=0.0.4")
        if not path.startswith("/v1/models/") or method not in _MODEL_METHODS:
            return await _respond(send, 404, json_codec.encode({"error": f"Malformed request: {method} {path}"}))
        started = time.perf_counter()
        match = _MODEL_URL.match(path)
        kind = "predict" if match and match["method"] else ("metadata" if match and match["metadata"] else "status")
        model = match["model"] if match else ""
        status = 200
        try:
            if not match or (method == "POST") != (kind == "predict") or (kind == "status" and match["label"]):
                raise errors.invalid_argument(f"Malformed request: {method} {path}")
            version = _version(match["version"])
            if match["method"] in ("classify", "regress"):
                raise errors.unimplemented(grpc_api.NO_CLASSIFY_OR_REGRESS)
            if kind == "status":  # as TF Serving prints it: the .proto's field names, defaults too (an OK status)
                body = json_codec.encode(json_format.MessageToDict(
                    predictor.status(model, version), preserving_proto_field_name=True,
                    always_print_fields_with_no_presence=True))
            elif kind == "metadata":
                body = json_codec.encode(_metadata_json(predictor.metadata(model, version, match["label"])))
            else:
                body = await _predict(scope, receive, model, version, match["label"], started)
        except errors.ServingError as error:
            status, body = error.http_status, json_codec.encode({"error": error.message})
        except ConnectionError:
            return  # nobody to answer
        await _respond(send, status, body)
        predictor.record(model, "rest", kind, str(status), started)

    async def _predict(scope: dict, receive: Receive, model: str, version, label, started: float) -> bytes:
        try:  # a client sending less than its Content-Length would otherwise hold the request for ever
            async with asyncio.timeout(predictor.remaining(started)):
                body = await _body(scope, receive, max_body_bytes)
        except TimeoutError:
            raise predictor.timed_out() from None
        doc = json_codec.parse_body(body)
        if isinstance(doc.get("instances"), list):
            predictor.limits.check_rows(len(doc["instances"]))  # before any array is made
        loaded, signature = predictor.resolve(model, version, label, json_codec.signature_name(doc))
        inputs, form = json_codec.request_inputs(doc, loaded.inputs[signature])
        outputs = await predictor.answer(predictor.submit(loaded, signature, inputs), started)
        return json_codec.encode(json_codec.response(outputs, form))

    return app


def _metadata_json(proto) -> dict:
    """GetModelMetadata as TF Serving's REST API renders it (the SignatureDefMap unpacked)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    proto.metadata["signature_def"].Unpack(signature_map)
    return {"model_spec": {"name": proto.model_spec.name, "signature_name": "",
                           "version": str(proto.model_spec.version.value)},
            "metadata": {"signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)}}
