"""Errors as TF Serving reports them: a gRPC status code, the HTTP status its REST API maps it to, and
TF Serving's message texts, so clients (and people searching for an error) see what the real server says."""

from __future__ import annotations

import functools

import grpc

# TF Serving's REST API maps canonical codes to HTTP statuses like this (others: 500).
_HTTP_STATUS = {grpc.StatusCode[code]: status for code, status in {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401, "RESOURCE_EXHAUSTED": 429, "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}.items()}


class ServingError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)


invalid_argument = functools.partial(ServingError, grpc.StatusCode.INVALID_ARGUMENT)
not_found = functools.partial(ServingError, grpc.StatusCode.NOT_FOUND)
resource_exhausted = functools.partial(ServingError, grpc.StatusCode.RESOURCE_EXHAUSTED)
unimplemented = functools.partial(ServingError, grpc.StatusCode.UNIMPLEMENTED)
deadline_exceeded = functools.partial(ServingError, grpc.StatusCode.DEADLINE_EXCEEDED)


def servable_not_found(model: str, version=None) -> ServingError:
    which = f"Latest({model})" if version is None else f"Specific({model}, {version})"
    return not_found(f"Servable not found for request: {which}")
