"""Where the data comes from: --data, IMDB_DATA, or the official archive downloaded once."""

from __future__ import annotations

import functools
import http.server
import os
import threading

import pytest

from pipeline import data_source


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(data_source.ENV_VAR, raising=False)
    return tmp_path / "cache" / "data"


@pytest.fixture
def official_archive(tmp_path, monkeypatch):
    """Where to write the "official" archive: a real HTTP server on loopback serves it at OFFICIAL_URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/aclImdb_v1.tar.gz"
    monkeypatch.setattr(data_source, "OFFICIAL_URL", url)
    yield root / "aclImdb_v1.tar.gz"
    server.shutdown()


def test_an_explicit_path_wins(cache, monkeypatch, tmp_path):
    (tmp_path / "given").mkdir()
    (tmp_path / "from_env").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(data_source.ENV_VAR, str(tmp_path / "from_env"))
    assert data_source.resolve("given") == str(tmp_path / "given")
    assert data_source.resolve(None) == str(tmp_path / "from_env")
    assert data_source.resolve("gs://bucket/aclImdb") == "gs://bucket/aclImdb"


def test_a_missing_path_is_named(cache):
    with pytest.raises(data_source.DataUnavailable, match="'/no/such/aclImdb' does not exist"):
        data_source.resolve("/no/such/aclImdb")


def test_offline_stops_at_once_saying_what_to_pass(cache, monkeypatch):
    monkeypatch.setattr(data_source, "OFFICIAL_URL", "http://127.0.0.1:9/aclImdb_v1.tar.gz")
    with pytest.raises(data_source.DataUnavailable, match="Pass --data PATH or set IMDB_DATA"):
        data_source.resolve(None)
    assert not cache.exists() or not os.listdir(cache)


def test_download_is_validated_then_cached(cache, official_archive, imdb_archive):
    official_archive.write_bytes(open(imdb_archive, "rb").read())
    path = data_source.resolve(None)
    assert path == str(cache / "aclImdb_v1.tar.gz") and os.path.getsize(path) == os.path.getsize(imdb_archive)
    assert data_source.resolve(None) == path  # the second time, from the cache


def test_a_corrupt_download_leaves_nothing(cache, official_archive, imdb_archive):
    data = open(imdb_archive, "rb").read()
    official_archive.write_bytes(data[: len(data) // 3])
    # DataUnavailable: what the CLI reports as one line, exit 2 (no traceback)
    with pytest.raises(data_source.DataUnavailable, match="not usable.*corrupt or truncated"):
        data_source.resolve(None)
    assert os.listdir(cache) == []
