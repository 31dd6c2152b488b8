# Sparsefit: the API served by `python -m service`, data in the /data volume.
#   docker build -t sparsefit .            (or: docker compose up)
# BASE_IMAGE needs python3 (3.11) with the venv module and /bin/sh: python:3.11-slim by default, or a
# Debian bookworm root with python3-venv made without a registry by scripts/docker-base-image.sh.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# Optional pip settings for builds behind a mirror or a TLS-intercepting proxy, passed with --build-arg
# (scripts/docker-test.sh passes the host's); empty means pip's default. They exist in this stage only:
# none of them reaches the final image.
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_TRUSTED_HOST=
# PEM text of extra certificate authorities that pip must trust on top of the base image's bundle.
ARG EXTRA_CA_CERTS=
# Optional extras of the sparsefit distribution, e.g. "dask" for the image the Dask profile runs
# (scheduler, workers and API alike: the workers import the service's job kinds).
ARG EXTRAS=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=180
# The CA bundle, when one is made, stays in this stage.
RUN set -eu; \
    python3 -m venv /opt/venv; \
    if [ -n "$EXTRA_CA_CERTS" ]; then \
      bundle=/etc/ssl/certs/ca-certificates.crt; \
      [ -f "$bundle" ] || bundle="$(/opt/venv/bin/python -c 'import pip._vendor.certifi as c; print(c.where())')"; \
      { cat "$bundle"; printf '%s\n' "$EXTRA_CA_CERTS"; } > /etc/pip-build-ca.pem; \
    fi
WORKDIR /src
COPY pyproject.toml ./
# The dependencies first, in a layer of their own, so that editing service/ or README.md does not
# reinstall them.
RUN set -eu; \
    [ ! -f /etc/pip-build-ca.pem ] || export PIP_CERT=/etc/pip-build-ca.pem; \
    /opt/venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /tmp/requirements.txt; \
    /opt/venv/bin/python -m pip install --quiet -r /tmp/requirements.txt
COPY README.md ./
COPY service ./service
RUN set -eu; \
    [ ! -f /etc/pip-build-ca.pem ] || export PIP_CERT=/etc/pip-build-ca.pem; \
    /opt/venv/bin/python -m pip install --quiet ".${EXTRAS:+[$EXTRAS]}" ; \
    /opt/venv/bin/python -m pip check; \
    NUMBA_CACHE_DIR=/opt/numba-cache /opt/venv/bin/python -c 'import service.modeling.engine.warm'

FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    SPARSEFIT_HOST=0.0.0.0 \
    SPARSEFIT_PORT=8000 \
    SPARSEFIT_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/opt/numba-cache
RUN useradd --uid 10001 --user-group --no-create-home --no-log-init --home-dir /nonexistent \
        --shell /usr/sbin/nologin sparsefit \
    && mkdir -p /data \
    && chown sparsefit:sparsefit /data
COPY --from=build /opt/venv /opt/venv
# The engine's kernels, compiled at build time; writable so a different CPU can add its own build.
COPY --from=build --chown=10001:10001 /opt/numba-cache /opt/numba-cache
USER 10001:10001
WORKDIR /data
# A new named volume starts as a copy of this directory, owned by the sparsefit user.
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SPARSEFIT_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["/opt/venv/bin/python", "-m", "service"]
