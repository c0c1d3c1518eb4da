"""Kubeflow Pipelines: compile the pipeline, submit runs, and serve the pushed model in the cluster."""
