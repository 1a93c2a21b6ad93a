# syntax=docker/dockerfile:1
# One image for every VoiceMill role: `voicemill serve`, `voicemill worker`, the Dagster
# webserver, daemon and code server, and the MLflow UI (compose.yaml, deploy/k8s).
#
#   CPU (default):  docker build -t voicemill .
#   GPU:            docker build --build-arg TORCH_INDEX_URL= -t voicemill:cuda .
#
# The GPU build takes torch from PyPI, whose Linux wheels carry CUDA 12.8 and cuDNN (the
# nvidia-* wheels); only the host's driver is needed, and the NVIDIA container toolkit
# brings it in. So no CUDA base image is required. BASE_IMAGE may still name another
# Debian or Ubuntu image (nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04, say) as long as it
# has python3.11, which scripts/setup.sh asks for and the project requires: the nvidia/cuda
# Ubuntu images ship 3.10 or 3.12, so they need 3.11 added first.
#
# No model weights are baked in: voices come from the MLflow registry at run time. State
# lives under VOICEMILL_HOME=/data; mount a volume there.

ARG BASE_IMAGE=python:3.11-slim-bookworm
# Extras scripts/setup.sh installs: Japanese G2P and dagster-k8s for the Helm chart's run
# pods; the image leaves out the test tools (dev).
ARG VOICEMILL_EXTRAS=ja,k8s

FROM ${BASE_IMAGE} AS build
ARG VOICEMILL_EXTRAS
# Empty: PyPI's default (CUDA) torch wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV VOICEMILL_EXTRAS=${VOICEMILL_EXTRAS} \
    VOICEMILL_SKIP_DOTENV=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A compiler for the packages without wheels (the parity peer's jieba_fast); it stays in
# this stage. Versions come with the base image's Debian release, which its tag pins.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The project keeps its repository layout: the code reads dagster.yaml and workspace.yaml
# from the project root, and the install is editable, as `make setup` makes it.
COPY . .
# The same script as `make setup`: system packages, then .venv pinned by constraints.txt.
# The pip cache survives rebuilds, so a code change does not download torch again.
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -n "$TORCH_INDEX_URL" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL"; fi \
    && ./scripts/setup.sh \
    && .venv/bin/python -m compileall -q voicemill orchestration assets training quality

FROM ${BASE_IMAGE} AS runtime
ARG VOICEMILL_EXTRAS
ENV VOICEMILL_EXTRAS=${VOICEMILL_EXTRAS} \
    VOICEMILL_SKIP_DOTENV=1 \
    VOICEMILL_HOME=/data \
    VOICEMILL_EMBEDDED_DATABASE=false \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY --from=build /app /app
# setup.sh again, for the system packages (espeak-ng, ffmpeg, sox, libsndfile1,
# postgresql-client): the .venv it finds matches its stamp, so it stops there. /app stays
# root's; the service account owns only /data, which is also its home (caches).
RUN ./scripts/setup.sh \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home voicemill \
    && install -d -o voicemill -g voicemill -m 0750 /data
USER 10001:10001
EXPOSE 8000
# Liveness of `voicemill serve` (the default command); compose.yaml gives the other roles
# their own checks. Slim images have no curl: Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["voicemill", "serve", "--host", "0.0.0.0", "--port", "8000"]
