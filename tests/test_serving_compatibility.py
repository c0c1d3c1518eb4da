"""What TF Serving needs of the exported model: a server built on the TensorFlow that trained it,
and a graph of core TensorFlow ops only (tensorflow_model_server links no Python op libraries)."""

from __future__ import annotations

import importlib.metadata

from commands import python_json
from kubeflow import serving_manifests

# Run in a fresh interpreter that imports TensorFlow alone: the ops registered there are the ones
# a plain TensorFlow build (and so tensorflow_model_server) has, not ones another import added.
_OPS_NOT_IN_CORE = r"""
import json, sys
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
import tensorflow  # noqa: F401  (registers the core ops)
model = saved_model_pb2.SavedModel()
model.ParseFromString(open(sys.argv[1], "rb").read())
ops = set()
for graph in model.meta_graphs:
    ops.update(node.op for node in graph.graph_def.node)
    for function in graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
functions = {f.signature.name for g in model.meta_graphs for f in g.graph_def.library.function}
ops -= functions  # calls of the library's own functions
print(json.dumps({"ops": sorted(ops), "missing": sorted(op for op in ops if op_def_registry.get(op) is None)}))
"""


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_the_serving_image_matches_the_tensorflow_that_trains():
    tag = serving_manifests.SERVING_IMAGE.rsplit(":", 1)[1]
    assert _major_minor(tag) == _major_minor(importlib.metadata.version("tensorflow"))


def test_the_exported_graph_uses_only_core_tensorflow_ops(served_model):
    found = python_json("-c", _OPS_NOT_IN_CORE, f"{served_model}/saved_model.pb")
    assert {"StringLower", "StaticRegexReplace", "StringSplitV2"} & set(found["ops"])  # the text ops are in
    assert found["missing"] == []
