"""`./imdb submit` when the Kubeflow Pipelines server does not answer: a wrong --host, or a server that
drops the connection mid-request (what CI met when a cluster daemon died under a run's submission).
What the server says when it answers is tested against KFP's own API server
(tests/test_container_image.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from commands import python


@pytest.fixture
def package(tmp_path):
    path = tmp_path / "imdb-sentiment.yaml"
    path.write_text("{}\n")  # never read: the first request fails
    return str(path)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


@pytest.fixture
def hanging_up():
    """A server on loopback that accepts each connection, reads the request and closes without a word."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("server", ["nothing listening", "hangs up"])
def test_a_server_that_does_not_answer_gets_a_clear_error_naming_it(package, hanging_up, server):
    port = hanging_up if server == "hangs up" else _closed_port()
    host = f"http://127.0.0.1:{port}"
    result = python("-m", "kubeflow.cli", "submit", "--host", host, "--package", package, timeout=120)
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"no answer from the Kubeflow Pipelines server at {host}: " in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "started" not in result.stdout
