"""`./imdb benchmark-serving` end to end, shortened: wrk and ghz drive the real server on loopback."""

from __future__ import annotations

import json
import os

from commands import NATIVE_LINE, python
from served_models import export_model, publish


def test_every_load_point_is_measured_without_errors(transform_output, tmp_path):
    base = str(tmp_path / "imdb_sentiment")
    publish(export_model(transform_output, str(tmp_path / "model"), seed=1, epochs=1), base)
    doc, out = tmp_path / "serving.md", tmp_path / "serving_load.json"
    doc.write_text("# Serving\n")
    assert os.environ.get("IMDB_GHZ"), "./imdb test builds ghz and names it in IMDB_GHZ"
    run = python("-m", "benchmarks.serving_load", "--model-dir", base, "--seconds", "1", "--out", str(out),
                 "--doc", str(doc), timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert not NATIVE_LINE.search(run.stdout + run.stderr), "TensorFlow's C++ lines belong in the log"

    result = json.loads(out.read_text())
    points = {(p["protocol"], p["reviews_per_request"], p["connections"]): p for p in result["points"]}
    assert set(points) == {(protocol, rows, connections) for protocol in ("rest", "grpc")
                           for rows in (1, 32) for connections in (1, 8, 32, 128)}
    for key, point in points.items():
        assert point["requests"] > 0 and point["errors"] == 0, (key, point)
        assert 0 < point["p50_ms"] <= point["p99_ms"], (key, point)
    assert result["in_process"]["batch32_reviews_per_second"] > 0
    page = doc.read_text()
    assert "| REST (wrk) | 32 | 128 |" in page and "| gRPC (ghz) | 1 | 1 |" in page
    assert "- REST: single reviews at 32 connections" in page and "- gRPC: single reviews" in page

    from benchmarks import serving_load

    other = {**result, "server_options": ["--processes", "2"], "label": "",
             "in_process": {**result["in_process"], "batch32_reviews_per_second": 4000.0}}
    labelled = {**result, "label": "before the change"}
    side_by_side = serving_load.render(result, [("other.json", other), ("before.json", labelled)])
    day = result["date"]
    assert f"| defaults | {day}, `{out}` |" in side_by_side
    # each run's ratio is to its own in-process call
    single32 = points[("rest", 1, 32)]["reviews_per_second"]
    assert (f"| --processes 2 | {day}, `other.json` | 4,000 | " in side_by_side
            and f"{single32:,.0f} ({single32 / 4000:.2f}x)" in side_by_side)
    assert f"| before the change | {day}, `before.json` |" in side_by_side
