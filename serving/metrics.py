"""Prometheus metrics, at TF Serving's default path /monitoring/prometheus/metrics."""

from __future__ import annotations

import prometheus_client

PATH = "/monitoring/prometheus/metrics"


class Metrics:
    """Its own registry, so several servers in one process (tests) do not collide."""

    def __init__(self):
        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "serving_request_count", "Requests by API, method and status code.",
            ["model_name", "api", "method", "status"], registry=self.registry)
        self.latency = prometheus_client.Histogram(
            "serving_request_latency_seconds", "Request latency, request received to response ready.",
            ["model_name", "api", "method"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
        self.batch_size = prometheus_client.Histogram(
            "serving_batch_size", "Rows per model call after server-side batching.",
            registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.model_version = prometheus_client.Gauge(
            "serving_model_version", "The newest version being served (-1: none).",
            ["model_name"], registry=self.registry)
        self.loaded_versions = prometheus_client.Gauge(
            "serving_loaded_versions", "How many versions are loaded.", ["model_name"], registry=self.registry)

    def exposition(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)

    def observe_store(self, store) -> None:
        versions = store.served_versions
        self.model_version.labels(store.model_name).set(max(versions) if versions else -1)
        self.loaded_versions.labels(store.model_name).set(len(versions))
