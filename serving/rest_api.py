"""TF Serving's REST API for the served model, as an ASGI (Starlette) app.

An adapter, as TF Serving's http_rest_api_handler is: the URL and JSON are translated to the
calls gRPC makes on the same Predictor, and the protos it returns are rendered as JSON.

    GET  /v1/models/{name}[/versions/{v}]                         model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signatures
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     row or columnar predict
    GET  /monitoring/prometheus/metrics
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving import errors, grpc_api, json_codec, metrics, options
from serving.predictor import Predictor

# The URL grammar of TF Serving's REST handler: model, then an optional version or label, then
# an optional :method (GET only for status and /metadata).
_MODEL_URL = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<method>predict|classify|regress))?$")

_INT64_MAX = 2**63 - 1


def _version(text):
    """A version from the URL; TF Serving's error for one that is not an int64."""
    if not text:
        return None
    if len(text) > 19 or int(text) > _INT64_MAX:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise errors.invalid_argument(f"Failed to convert version: {shown} to numeric.")
    return int(text)


def _error(error: errors.ServingError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.http_status)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.resource_exhausted(f"Request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.resource_exhausted(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(predictor: Predictor, max_body_bytes: int = options.DEFAULT_MAX_BODY_BYTES) -> Starlette:
    async def models(request: Request) -> Response:
        started = time.perf_counter()
        match = _MODEL_URL.match(request.url.path)
        kind = "predict" if match and match["method"] else ("metadata" if match and match["metadata"] else "status")
        model = match["model"] if match else ""
        try:
            if not match or (request.method == "POST") != (kind == "predict"):
                raise errors.invalid_argument(f"Malformed request: {request.method} {request.url.path}")
            version = _version(match["version"])
            if match["method"] in ("classify", "regress"):
                raise errors.unimplemented(grpc_api.NO_CLASSIFY_OR_REGRESS)
            if kind == "status":
                if match["label"]:
                    raise errors.invalid_argument(f"Malformed request: {request.method} {request.url.path}")
                response = JSONResponse(_proto_json(predictor.status(model, version)))
            elif kind == "metadata":
                proto = predictor.metadata(model, version, match["label"])
                response = JSONResponse(_metadata_json(proto))
            else:
                response = await _predict(request, model, version, match["label"], started)
        except errors.ServingError as error:
            response = _error(error)
        predictor.record(model, "rest", kind, str(response.status_code), started)
        return response

    async def _predict(request: Request, model: str, version, label, started: float) -> Response:
        doc = json_codec.parse_body(await _body(request, max_body_bytes))
        if isinstance(doc.get("instances"), list):
            predictor.limits.check_rows(len(doc["instances"]))  # before any array is made
        loaded, signature = predictor.resolve(model, version, label, json_codec.signature_name(doc))
        inputs, form = json_codec.request_inputs(doc, loaded.inputs[signature])
        try:
            outputs = await asyncio.wait_for(asyncio.wrap_future(predictor.submit(loaded, signature, inputs)),
                                             predictor.remaining(started))
            predictor.remaining(started)  # answered, but past the deadline: as gRPC does
        except asyncio.TimeoutError:
            raise predictor.timed_out() from None
        return Response(json.dumps(json_codec.response(outputs, form), separators=(",", ":")),
                        media_type="application/json")

    async def prometheus(request: Request) -> Response:
        return Response(predictor.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def not_found(request: Request, exc) -> Response:
        return JSONResponse({"error": f"Malformed request: {request.method} {request.url.path}"}, status_code=404)

    return Starlette(routes=[
        Route(metrics.PATH, prometheus, methods=["GET"]),
        Route("/v1/models/{rest:path}", models, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ], exception_handlers={404: not_found, 405: not_found})


def _proto_json(proto) -> dict:
    """A response proto as TF Serving's REST handler prints it: field names as in the .proto,
    fields at their default values included (a version's OK status)."""
    return json_format.MessageToDict(proto, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def _metadata_json(proto) -> dict:
    """GetModelMetadata as TF Serving's REST API renders it (the SignatureDefMap unpacked)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    proto.metadata["signature_def"].Unpack(signature_map)
    return {
        "model_spec": {"name": proto.model_spec.name, "signature_name": "",
                       "version": str(proto.model_spec.version.value)},
        "metadata": {"signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)},
    }
