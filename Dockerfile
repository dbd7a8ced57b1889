# echo-model server image: `docker build -t echo-model .` (docs/deploy.md).
#
# BASE is any Debian-based image with python3 >= 3.11 and its venv module; the
# default is the official slim image. Where no registry is reachable, build one
# from Debian's packages (docs/deploy.md, "Building without a registry").
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# Only what `pip install .` reads: the package metadata and the package itself.
COPY pyproject.toml README.md /src/
COPY echo_model /src/echo_model
RUN /opt/venv/bin/pip install /src

FROM ${BASE}
# A fixed numeric user, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 echo \
    && useradd --system --uid 10001 --gid echo --no-create-home \
        --shell /usr/sbin/nologin echo
COPY --from=build /opt/venv /opt/venv
# Settings come from ECHO_* variables (echo-server --help lists them all).
# 0.0.0.0 makes the container reachable on its port; the server then refuses
# to start unless ECHO_SERVER_API_KEY (or ECHO_ALLOW_UNAUTHENTICATED=1) is set.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ECHO_HOST=0.0.0.0 \
    ECHO_PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['ECHO_PORT'] + '/health', timeout=2)"]
# Exec form: echo-server is PID 1 and gets SIGTERM itself, so in-flight streams
# drain for ECHO_GRACEFUL_TIMEOUT seconds before it exits.
ENTRYPOINT ["echo-server"]
