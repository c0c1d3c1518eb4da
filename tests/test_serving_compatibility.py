"""What TF Serving needs of the exported model: a server built on the TensorFlow that trained it
(and a graph of core TensorFlow ops only: test_signatures, for each encoding's model)."""

from __future__ import annotations

import importlib.metadata

from kubeflow import serving_manifests


def test_the_serving_image_matches_the_tensorflow_that_trains():
    tag = serving_manifests.SERVING_IMAGE.rsplit(":", 1)[1]
    assert tag.split(".")[:2] == importlib.metadata.version("tensorflow").split(".")[:2]  # major.minor
