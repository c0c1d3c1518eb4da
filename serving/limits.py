"""What one request may ask of the server, checked before anything is allocated for it, so that no
request takes a shared server down. TF Serving's rules, for REST and gRPC alike: a request bounded by
the batching settings (a task larger than the largest batch is refused unless batches may be split),
a tensor's declared shape checked against the values it carries, JSON nesting bounded."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from serving import errors

if TYPE_CHECKING:  # TensorFlow loads only where TensorProtos arrive: `./imdb predict` over REST runs without it
    from tensorflow.core.framework import tensor_pb2

MAX_RANK = 8  # far above what any signature here takes; bounds the work of checking a shape


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    max_rows: int = 1024  # rows (reviews) per request: 32 batches of the default max_batch_size
    timeout_seconds: float = 30.0  # from queueing to answer; DEADLINE_EXCEEDED after it

    def __post_init__(self):
        if self.max_rows < 1:
            raise ValueError(f"max_rows must be positive, not {self.max_rows}")
        if not self.timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be positive, not {self.timeout_seconds}")

    def check_rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise errors.invalid_argument(
                f"Request holds {rows:,} rows; this server takes at most {self.max_rows:,} per request "
                "(--max-request-rows); send them in several requests")

    def check_tensor_proto(self, name: str, proto: "tensor_pb2.TensorProto", inner_elements: int) -> None:
        """Refuses a TensorProto whose shape does not match its values, before it becomes an array: TensorFlow
        fills a string tensor short of its shape by repeating the last value (40 bytes declaring [1000000]: a
        million strings)."""
        import tensorflow as tf  # already loaded by the gRPC stubs that decoded PROTO

        dims = [d.size for d in proto.tensor_shape.dim]
        if len(dims) > MAX_RANK or any(d < 0 for d in dims):
            raise errors.invalid_argument(f"Input {name} has an invalid shape {dims}")
        if dims:
            self.check_rows(dims[0])
        elements = math.prod(dims)
        if elements > self.max_rows * max(1, inner_elements):
            raise errors.invalid_argument(f"Input {name} of shape {dims} holds more values than "
                                          f"{self.max_rows:,} rows may")
        if proto.dtype == tf.string.as_datatype_enum and len(proto.string_val) != elements:
            raise errors.invalid_argument(
                f"Input {name} declares shape {dims} ({elements:,} values) but carries {len(proto.string_val):,}")
        if proto.tensor_content:
            itemsize = tf.as_dtype(proto.dtype).size
            if len(proto.tensor_content) != elements * itemsize:
                raise errors.invalid_argument(
                    f"Input {name} declares shape {dims} but its tensor_content holds "
                    f"{len(proto.tensor_content):,} bytes, not {elements * itemsize:,}")


def inner_elements(shape: tuple) -> int:
    """Values per row of a signature input of SHAPE (unknown inner dimensions count as 1)."""
    return math.prod(d for d in shape[1:] if d is not None and d > 0)

