"""ML Metadata's gRPC service (MetadataStoreService) over the ML Metadata library, for the local
Kubeflow stack: KFP's driver and launcher talk to MLMD only through this service.

No MLMD server binary is published for this platform, but the locked `ml-metadata` holds the
library and the service's definition. Every RPC hands its request bytes, untouched, to the library's
binding of the same name (ml_metadata/metadata_store/pywrap) and returns its answer and status code.

One exception: ml-metadata 1.21 dropped `filter_query` ("ZetaSQL dependency removed"), which KFP's
MLMD server (1.14) evaluates. KFP's client sends one form, `custom_properties.parent_dag_id.int_value
= N` (backend/src/v2/metadata/client.go, GetExecutionsInDAG): such a list request is forwarded
without it and the nodes returned filtered here (KFP pages until the page token is empty, so no match
is lost). Any other filter reaches the library, which refuses it.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent import futures
from typing import Callable, List, Tuple

import grpc
from google.protobuf import message_factory
from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store as library
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
MAX_MESSAGE = 100 * 1024 * 1024  # what KFP's client sends and accepts (client.go)
_STATUS = {code.value[0]: code for code in grpc.StatusCode}
_KFP_FILTER = re.compile(r"^\s*custom_properties\.(\w+)\.int_value\s*=\s*(-?\d+)\s*$")


def _with_kfp_filter(call: Callable, method) -> Callable:
    """CALL, a list RPC of the library, evaluating KFP's one filter form itself."""
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    field = next(f.name for f in method.output_type.fields if f.name in ("artifacts", "executions", "contexts"))

    def filtered(store, raw: bytes):
        request = request_class.FromString(raw)
        match = _KFP_FILTER.match(request.options.filter_query)
        if not match:
            return call(store, raw)
        key, value = match.group(1), int(match.group(2))
        request.options.ClearField("filter_query")
        answer, error, code = call(store, request.SerializeToString())
        if code:
            return answer, error, code
        response = response_class.FromString(answer)
        kept = [node for node in getattr(response, field) if key in node.custom_properties
                and node.custom_properties[key].WhichOneof("value") == "int_value"
                and node.custom_properties[key].int_value == value]
        response.ClearField(field)
        getattr(response, field).extend(kept)
        return response.SerializeToString(), error, code
    return filtered


def _handlers(store, lock: threading.Lock) -> Tuple[grpc.GenericRpcHandler, List[str]]:
    def forward(call):
        def handle(request: bytes, context):
            with lock:  # one SQLite connection: one call at a time (the library holds the GIL anyway)
                answer, error, code = call(store, request)
            if code:
                context.abort(_STATUS.get(code, grpc.StatusCode.UNKNOWN), error.decode("utf-8", "replace"))
            return answer
        return grpc.unary_unary_rpc_method_handler(handle)  # no (de)serializers: bytes pass through

    served = {}
    for method in SERVICE.methods:
        call = getattr(library, method.name, None)
        if call is None:
            continue  # unregistered: gRPC answers UNIMPLEMENTED
        options = method.input_type.fields_by_name.get("options")
        if options is not None and options.message_type.name == "ListOperationOptions":
            call = _with_kfp_filter(call, method)
        served[method.name] = forward(call)
    missing = sorted(m.name for m in SERVICE.methods if m.name not in served)
    return grpc.method_handlers_generic_handler(SERVICE.full_name, served), missing


def connection_config(sqlite_path: str) -> metadata_store_pb2.ConnectionConfig:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def serve(sqlite_path: str, host: str = "127.0.0.1", port: int = 8080) -> grpc.Server:
    """Starts the service on HOST:PORT over the SQLite file (created if missing); returns the server."""
    store = library.CreateMetadataStore(connection_config(sqlite_path).SerializeToString(),
                                        metadata_store_pb2.MigrationOptions().SerializeToString())
    handler, missing = _handlers(store, threading.Lock())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)])
    server.add_generic_rpc_handlers((handler,))
    if not server.add_insecure_port(f"{host}:{port}"):
        raise OSError(f"ML Metadata's service cannot listen on {host}:{port}")
    server.start()
    logging.info("ML Metadata service on %s:%d over %s (not in the library: %s)", host, port, sqlite_path,
                 ", ".join(missing))
    return server


def main() -> None:
    """The service as a process of its own (the local cluster's `metadata-grpc-service`)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m kubeflow.mlmd_service", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="the SQLite file (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (default %(default)s, KFP's)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    serve(args.db, args.host, args.port).wait_for_termination()


if __name__ == "__main__":
    main()
