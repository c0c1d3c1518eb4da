"""Runs the pipeline on this machine: LocalDagRunner, Beam underneath, SQLite metadata.

Only paths and platform settings are decided here; the pipeline itself is `create_pipeline`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List, Optional

from tfx import v1 as tfx
from tfx.dsl.compiler import compiler
from tfx.proto.orchestration import pipeline_pb2

from common import serving_contract
from pipeline import beam_runners, configs, progress, run_summary
from pipeline.pipeline import UNCACHED_NODES, create_pipeline


@dataclasses.dataclass(frozen=True)
class LocalPaths:
    """Where a local run keeps its artifacts, its metadata and the models it pushes."""

    output_dir: str
    pipeline_name: str = configs.PIPELINE_NAME
    model_name: str = serving_contract.MODEL_NAME

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipelines", self.pipeline_name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata", self.pipeline_name, "metadata.db")

    @property
    def serving_model_dir(self) -> str:
        """The model's base path as TF Serving wants it: <serving dir>/<model name>/<version>/."""
        return serving_contract.local_base_path(self.output_dir, self.model_name)


def build(paths: LocalPaths, settings: configs.PipelineSettings,
          beam_pipeline_args: Optional[List[str]] = None, enable_cache: bool = True) -> tfx.dsl.Pipeline:
    os.makedirs(os.path.dirname(paths.metadata_path), exist_ok=True)
    return create_pipeline(
        pipeline_name=paths.pipeline_name, pipeline_root=paths.pipeline_root,
        serving_model_dir=paths.serving_model_dir, model_name=paths.model_name,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(paths.metadata_path),
        beam_pipeline_args=beam_runners.local_args(beam_pipeline_args), enable_cache=enable_cache,
        **settings.as_kwargs())


def compile_for_local(pipeline: tfx.dsl.Pipeline) -> pipeline_pb2.Pipeline:
    """The pipeline's IR, with caching off for the nodes that must always run (UNCACHED_NODES)."""
    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in UNCACHED_NODES:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir


def run(paths: LocalPaths, settings: configs.PipelineSettings,
        beam_pipeline_args: Optional[List[str]] = None, enable_cache: bool = True,
        show_progress: bool = True) -> run_summary.RunSummary:
    pipeline = build(paths, settings, beam_pipeline_args, enable_cache)
    watcher = progress.ComponentProgress(paths.metadata_path, total=len(pipeline.components))
    if show_progress:
        watcher.start()
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(compile_for_local(pipeline))
    finally:
        if show_progress:
            watcher.stop()
    return run_summary.summarize(paths.metadata_path)
