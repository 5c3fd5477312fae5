# syntax=docker/dockerfile:1
#
# catdog images. Two targets:
#   docker build -t catdog:cpu .                 # default: Debian 12, Debian's LibTorch (CPU)
#   docker build -t catdog:gpu --target gpu .    # CUDA base + the CUDA build of LibTorch 2.x
#
# Both build with the scripts CI runs (deploy/install-deps.sh, deploy/build.sh;
# tests/deploy/deploy_test.sh fails if they drift apart) and ship only the
# binaries plus the shared libraries they load (deploy/collect-runtime.sh) on
# a slim base, run as a non-root user.

# ----------------------------------------------------------------- CPU build
FROM debian:12 AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/
RUN deploy/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN deploy/build.sh && deploy/collect-runtime.sh build /opt/catdog

# --------------------------------------------------------------- CPU runtime
FROM debian:12-slim AS cpu
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/catdog --shell /usr/sbin/nologin catdog \
    && mkdir -p /var/lib/catdog /data && chown catdog:catdog /var/lib/catdog
COPY --from=build /opt/catdog /opt/catdog
ENV PATH=/opt/catdog/bin:$PATH \
    LD_LIBRARY_PATH=/opt/catdog/lib \
    CATDOG_LISTEN=0.0.0.0:50051 \
    CATDOG_DATA_ROOT=/data \
    CATDOG_STATE_DIR=/var/lib/catdog
# Listening on 0.0.0.0, catdogd starts only with TLS and tokens
# (CATDOG_TLS_CERT, CATDOG_TLS_KEY, CATDOG_TOKENS_FILE) or CATDOG_INSECURE=1;
# README "Security". The HEALTHCHECK's catdogctl then needs CATDOG_TLS_CA.
USER catdog
VOLUME ["/var/lib/catdog"]
EXPOSE 50051
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["catdogctl", "--server", "127.0.0.1:50051", "--timeout", "4", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["catdogd"]

# ----------------------------------------------------------------- GPU build
# Ubuntu 24.04 ships the same gRPC 1.51, Protobuf 3.21, OpenCV 4.6 and Abseil
# as Debian 12, so install-deps.sh installs everything but Debian's CPU
# LibTorch; the CUDA LibTorch comes from the URL below (match it to the CUDA
# version of the base image).
FROM nvidia/cuda:12.4.1-cudnn-devel-ubuntu24.04 AS build-gpu
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu124/libtorch-cxx11-abi-shared-with-deps-2.4.1%2Bcu124.zip
WORKDIR /src
COPY deploy/install-deps.sh deploy/
RUN deploy/install-deps.sh --no-torch && apt-get install -y --no-install-recommends curl unzip \
    && rm -rf /var/lib/apt/lists/* \
    && curl -fsSL "$LIBTORCH_URL" -o /tmp/libtorch.zip && unzip -q /tmp/libtorch.zip -d /opt \
    && rm /tmp/libtorch.zip
COPY . .
RUN deploy/build.sh -DCMAKE_PREFIX_PATH=/opt/libtorch \
    && deploy/collect-runtime.sh build /opt/catdog /opt/libtorch/lib

# --------------------------------------------------------------- GPU runtime
# The CUDA runtime, cuDNN and NCCL come with LibTorch (copied above); the
# driver is mounted by the NVIDIA container runtime (--gpus / device
# reservations), so a plain Ubuntu base suffices.
FROM ubuntu:24.04 AS gpu
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/catdog --shell /usr/sbin/nologin catdog \
    && mkdir -p /var/lib/catdog /data && chown catdog:catdog /var/lib/catdog
COPY --from=build-gpu /opt/catdog /opt/catdog
ENV PATH=/opt/catdog/bin:$PATH \
    LD_LIBRARY_PATH=/opt/catdog/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CATDOG_LISTEN=0.0.0.0:50051 \
    CATDOG_DATA_ROOT=/data \
    CATDOG_STATE_DIR=/var/lib/catdog \
    CATDOG_DEVICE=cuda
# As above: TLS and tokens, or CATDOG_INSECURE=1 (README "Security").
USER catdog
VOLUME ["/var/lib/catdog"]
EXPOSE 50051
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["catdogctl", "--server", "127.0.0.1:50051", "--timeout", "4", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["catdogd"]

# The default target (last stage wins otherwise): the CPU image.
FROM cpu
