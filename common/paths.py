"""Where the commands put their files, and path options made absolute: os.path.abspath reads
`gs://bucket/x` as relative (`<cwd>/gs:/bucket/x`), `absolute` leaves a path with a scheme alone."""

from __future__ import annotations

import os
from typing import Optional

OUTPUT_DIR_ENV = "IMDB_OUTPUT_DIR"


def is_remote(path: str) -> bool:
    return "://" in path


def absolute(path: Optional[str]) -> Optional[str]:
    return path if not path or is_remote(path) else os.path.abspath(path)


def output_dir(*parts: str) -> str:
    """PARTS below the output folder, here so that every command follows $IMDB_OUTPUT_DIR (else ./outputs)."""
    return os.path.join(os.environ.get(OUTPUT_DIR_ENV) or "outputs", *parts)


def cache_dir(*parts: str) -> str:
    """PARTS below the cache, resolved as env/environment.sh does: Python finds what ./imdb put there."""
    base = os.environ.get("IMDB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "imdb-sentiment")
    return os.path.join(base, *parts)
