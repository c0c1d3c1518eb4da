"""Where the reviews come from: a path given, IMDB_DATA, or the official archive downloaded once."""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import urllib.request
from typing import Optional

from common import paths

# The layout's description, repeated here so that an offline run stops before TensorFlow loads.
EXPECTED_LAYOUT_HINT = "an aclImdb folder (aclImdb/{train,test}/{pos,neg}/*.txt) or its .tar.gz"

ENV_VAR = "IMDB_DATA"
OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
CONNECT_TIMEOUT_S = 10


class DataUnavailable(RuntimeError):
    """No data path was given and the official archive could not be downloaded."""


def resolve(path: Optional[str]) -> str:
    """The data path to use; downloads the official archive into the cache if none is given."""
    path = path or os.environ.get(ENV_VAR)
    if path:  # a remote file system's is left to the layout check
        if not (paths.is_remote(path) or os.path.exists(path)):
            raise DataUnavailable(f"IMDB data path {path!r} does not exist; expected {EXPECTED_LAYOUT_HINT}.")
        return paths.absolute(path)
    cached = paths.cache_dir("data", os.path.basename(OFFICIAL_URL))
    return cached if os.path.exists(cached) else download(OFFICIAL_URL, cached)


def download(url: str, destination: str) -> str:
    """Downloads to a temporary file beside DESTINATION, validates it, then renames it into place."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(destination), suffix=".partial")
    try:
        try:
            response = urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S)
        except OSError as error:
            raise DataUnavailable(
                f"No IMDB data given and the official archive could not be downloaded from {url} "
                f"({error}). Pass --data PATH or set {ENV_VAR}=PATH, where PATH is "
                f"{EXPECTED_LAYOUT_HINT}.") from error
        total, done = int(response.headers.get("Content-Length") or 0), 0
        try:
            with os.fdopen(handle, "wb") as out, response:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if total:
                        print(f"\rdownloading {url}: {100 * done // total}%", end="", file=sys.stderr)
        except (OSError, http.client.HTTPException) as error:  # a dropped connection, IncompleteRead
            raise DataUnavailable(f"Downloading {url} failed after {done:,} bytes ({error}); run again, or "
                                  f"pass --data PATH, where PATH is {EXPECTED_LAYOUT_HINT}.") from error
        print(file=sys.stderr)
        from components.imdb_example_gen import layout

        try:
            layout.locate(partial)
        except layout.DataLayoutError as error:
            raise DataUnavailable(f"The archive downloaded from {url} is not usable ({error}); nothing was "
                                  f"kept. Run again, or pass --data PATH.") from error
        os.replace(partial, destination)
        return destination
    finally:
        if os.path.exists(partial):
            os.remove(partial)
