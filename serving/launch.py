"""`./imdb serve` as a child process, ready when its model answers: for the benchmarks and tests
that drive a real server. Readiness is TF Serving's model status API (REST), polled against a
deadline, never a line of the server's console."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Optional, Sequence

from common import serving_contract


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_available(rest: str, model_name: str = serving_contract.MODEL_NAME, seconds: float = 180.0,
                         process: Optional[subprocess.Popen] = None) -> None:
    """Polls GET http://REST/v1/models/MODEL_NAME until a version is AVAILABLE; raises TimeoutError
    after SECONDS, or RuntimeError as soon as PROCESS (the server) has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the model server exited with {process.returncode} before serving {model_name}")
        try:
            with urllib.request.urlopen(f"http://{rest}/v1/models/{model_name}", timeout=5) as response:
                states = [v["state"] for v in json.load(response).get("model_version_status", [])]
            if "AVAILABLE" in states:
                return
        except (OSError, ValueError):  # urllib's errors are OSErrors
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{model_name} was not AVAILABLE at http://{rest} within {seconds:.0f} s")


@dataclasses.dataclass
class Served(contextlib.AbstractContextManager):  # `with` yields it, stopped after
    process: subprocess.Popen
    rest: str  # host:port
    grpc: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)

    def __exit__(self, *exc) -> None:
        self.stop()


def start(model_dir: str, extra: Sequence[str] = (), model_name: str = serving_contract.MODEL_NAME) -> Served:
    """`serve --local` on free loopback ports, once its model is AVAILABLE (the server stopped if not)."""
    rest, grpc = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "serve", "--local", "--model-dir", model_dir,
         "--model-name", model_name, "--rest-port", str(rest), "--grpc-port", str(grpc), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, text=True)
    served = Served(process, f"127.0.0.1:{rest}", f"127.0.0.1:{grpc}")
    try:
        wait_until_available(served.rest, model_name, process=process)
    except BaseException:
        served.stop()
        raise
    return served
