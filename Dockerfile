# The image every pipeline component runs in: the locked environment plus this project's code,
# installed as a package so that components reference it by dotted path.
#   podman build -t imdb-sentiment-tfx .                                   (or docker build)
#   podman build --build-arg VARIANT=gpu -t imdb-sentiment-tfx:gpu .      the Trainer's on GPU nodes:
#       the same image plus the CUDA libraries of requirements-gpu.lock (TensorFlow's own wheels;
#       the node's NVIDIA driver is mounted in by the device plugin)
# Two stages: the environment is built with the compilers a few packages need (env/build-packages.txt),
# and copied into an image that has only what runs (env/system-packages.txt): no compilers, no test tools.
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE} AS build
ARG VARIANT=cpu
WORKDIR /src
# The same recipe as the local set-up (env/install.sh), so the image and a checkout cannot drift;
# requirements.lock only: the tests' tools stay out.
COPY env/ env/
COPY requirements.lock requirements-gpu.lock ./
RUN case "$VARIANT" in cpu) UV_NO_CACHE=1 env/install.sh /opt/venv ;; gpu) UV_NO_CACHE=1 env/install.sh --gpu /opt/venv ;; \
        *) echo "VARIANT must be cpu or gpu, not $VARIANT" >&2; exit 1 ;; esac
COPY setup.py pyproject.toml ./
COPY common/ common/
COPY pipeline/ pipeline/
COPY components/ components/
COPY serving/ serving/
COPY kubeflow/ kubeflow/
# --no-build-isolation: build with the locked setuptools already in the venv, fetch nothing.
# SOURCE_DATE_EPOCH: checked-hash .pyc, as env/install.sh writes them (why there).
RUN SOURCE_DATE_EPOCH=315532800 /opt/venv/bin/pip install --no-deps --no-build-isolation --no-cache-dir . \
    && rm -rf /src/build

FROM ${BASE_IMAGE}
COPY env/system-packages.txt /tmp/
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $(grep -v '^#' /tmp/system-packages.txt) && rm -rf /var/lib/apt/lists/* /tmp/system-packages.txt
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src /src
# REQUESTS_CA_BUNDLE: Python's HTTP clients (google-auth and Beam's GCS I/O) trust the system's CA
# store, as TensorFlow's and Go's clients do, rather than certifi's copy.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# Kubeflow Pipelines 2.17 runs every pod of a run as non-root (runAsNonRoot, backend/src/v2/compiler/
# argocompiler/argo.go and security_context.go), which kubelet checks against the image's numeric
# USER: a user of its own, with a home it can write (Keras' and TFX's caches), which is also the
# working folder (./imdb serve and the other commands write outputs/ there).
RUN useradd --uid 1000 --user-group --create-home --home-dir /home/imdb imdb
USER 1000:1000
ENV HOME=/home/imdb
WORKDIR /home/imdb
