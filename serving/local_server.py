"""The project's own model server: TF Serving's REST and gRPC APIs for one model's base path, which
`./imdb serve` starts where `tensorflow_model_server` is not installed (as here); the tests use it."""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import threading
import time
from typing import Optional

import grpc
import uvicorn

from serving import grpc_api, rest_api
from serving.batching import Batcher
from serving.metrics import Metrics
from serving.model_store import ModelStore
from serving.options import ServerOptions
from serving.predictor import Predictor

log = logging.getLogger(__name__)  # `./imdb serve` shows this package's lines on the terminal


class LocalModelServer:
    def __init__(self, options: ServerOptions):
        self.options = options
        self.metrics = Metrics()
        self.store = ModelStore(options.model_name, options.base_path, options.num_versions, options.labels,
                                on_change=self.metrics.observe_store)
        self.batcher = Batcher(options.batching, on_batch=self.metrics.batch_size.observe)
        self.predictor = Predictor(self.store, self.batcher, self.metrics, options.limits)
        self.rest_port: Optional[int] = None
        self.grpc_port: Optional[int] = None
        self._grpc: Optional[grpc.Server] = None
        self._uvicorn: Optional[uvicorn.Server] = None

    def start(self) -> "LocalModelServer":
        self.store.poll()
        self.metrics.observe_store(self.store)
        if not self.store.served_versions:
            log.warning("no version of %s under %s yet; serving 404 until one appears",
                        self.options.model_name, self.options.base_path)
        self.store.watch(self.options.poll_seconds)

        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(self.options.grpc_threads, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", self.options.max_body_bytes),
                     # gRPC lets a second server bind a taken port by default, and clients are then
                     # answered by either at random: refuse, unless the port is meant to be shared.
                     ("grpc.so_reuseport", int(self.options.reuse_port))])
        grpc_api.add_services(self._grpc, self.predictor)
        try:
            self.grpc_port = self._grpc.add_insecure_port(f"{self.options.host}:{self.options.grpc_port}")
        except RuntimeError:  # grpcio raises this when the port is taken
            self.grpc_port = 0
        if not self.grpc_port:
            self.stop()
            raise OSError(f"cannot bind gRPC to {self.options.host}:{self.options.grpc_port}: "
                          "the port is in use or not available")
        self._grpc.start()

        config = uvicorn.Config(rest_api.create_app(self.predictor, self.options.max_body_bytes),
                                host=self.options.host, port=self.options.rest_port,
                                http=self.options.http_parser, loop=self.options.event_loop,
                                log_level="warning", access_log=False, lifespan="off",
                                proxy_headers=False)  # nothing here reads the client's address
        self._uvicorn = uvicorn.Server(config)
        self._rest_error = None
        self._rest_thread = threading.Thread(target=self._serve_rest, name="rest", daemon=True)
        self._rest_thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._rest_thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"cannot serve REST on {self.options.host}:{self.options.rest_port}"
                              + (f": {self._rest_error}" if self._rest_error else ""))
            time.sleep(0.01)
        self.rest_port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        return self

    def _serve_rest(self) -> None:
        try:
            self._uvicorn.run(sockets=[self._shared_socket()] if self.options.reuse_port else None)
        except (OSError, SystemExit) as error:  # uvicorn exits when it cannot bind; start() reports it
            self._rest_error = error if isinstance(error, OSError) else "the port is in use or not available"

    def _shared_socket(self) -> socket.socket:
        """The REST port with SO_REUSEPORT, which uvicorn's own binding does not set."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.options.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.options.host, self.options.rest_port))
        return sock

    def stop(self) -> None:
        if self._uvicorn:
            self._uvicorn.should_exit = True
            self._rest_thread.join(timeout=10)
        if self._grpc:
            self._grpc.stop(grace=2).wait()
        self.batcher.close()
        self.store.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://{self.options.host}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.options.host}:{self.grpc_port}"
