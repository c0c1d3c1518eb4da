# The image every pipeline component runs in: the locked environment plus this project's code,
# installed as a package so that components reference it by dotted path.
#   podman build -t imdb-sentiment-tfx .          (or docker build)
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE}

WORKDIR /src
# The same recipe as the local set-up (env/install.sh), so the image and a checkout cannot drift.
COPY env/ env/
COPY requirements.lock ./
RUN env/install.sh /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2

COPY setup.py pyproject.toml ./
COPY pipeline/ pipeline/
COPY components/ components/
COPY serving/ serving/
COPY kubeflow/ kubeflow/
# The curated schema, read by ImportSchemaGen in its pod (kubeflow/platform.py: IMAGE_SCHEMA_FILE).
COPY schema/ schema/
# --no-build-isolation: build with the locked setuptools already in the venv, fetch nothing.
RUN pip install --no-deps --no-build-isolation --no-cache-dir . && rm -rf /src/build
WORKDIR /
