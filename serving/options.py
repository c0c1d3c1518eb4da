"""What a model server is started with, the same for TF Serving's binary (serving/tf_serving.py
writes them as its flags and config files) and the project's server (serving/local_server.py)."""

from __future__ import annotations

import dataclasses
from typing import Dict

from common import serving_contract
from serving.limits import RequestLimits

DEFAULT_MAX_BODY_BYTES = 16 * 2**20  # of a REST request


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    num_batch_threads: int = 2
    enabled: bool = True

    def __post_init__(self):
        for name in ("max_batch_size", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must not be negative, not {self.batch_timeout_micros}")


# uvicorn's choices for the REST side: the C parser and libuv loop, or the pure-Python ones
# (docs/serving.md measures both).
HTTP_PARSERS = ("httptools", "h11")
EVENT_LOOPS = ("uvloop", "asyncio")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    model_name: str
    base_path: str
    host: str = "127.0.0.1"
    rest_port: int = serving_contract.REST_PORT  # 0 picks a free port
    grpc_port: int = serving_contract.GRPC_PORT
    num_versions: int = 1
    labels: Dict[str, int] = dataclasses.field(default_factory=dict)
    poll_seconds: float = 1.0
    batching: BatchingOptions = BatchingOptions()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    limits: RequestLimits = RequestLimits()
    grpc_threads: int = 64
    http_parser: str = HTTP_PARSERS[0]
    event_loop: str = EVENT_LOOPS[0]
    # Share both ports with the other worker processes of `./imdb serve --processes N`
    # (SO_REUSEPORT: the kernel spreads connections over them). Off, a taken port is refused.
    reuse_port: bool = False

    def __post_init__(self):
        for name, choices in (("http_parser", HTTP_PARSERS), ("event_loop", EVENT_LOOPS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")
