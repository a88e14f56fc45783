# syntax=docker/dockerfile:1
# syncd image. Stage 1 builds wheels and installs them into /opt/venv; stage 2
# copies only that venv into a clean slim image that runs as uid 10001 (syncd).
#   docker build -t syncd:local .
#   docker run --rm -p 8080:8080 syncd:local up --host 0.0.0.0 --port 8080
#     (dev settings, SQLite in /srv/syncd/var: migrate, seed, then serve)
# Configuration is environment only: see .env.example and docs/operations.md.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY . .
RUN /opt/venv/bin/pip wheel --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-index --find-links /wheels syncd

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNCD_VAR_DIR=/srv/syncd/var
RUN groupadd --system --gid 10001 syncd \
 && useradd --system --uid 10001 --gid 10001 --home-dir /srv/syncd --no-create-home \
        --shell /usr/sbin/nologin syncd \
 && mkdir -p /srv/syncd/var \
 && chown -R 10001:10001 /srv/syncd
COPY --from=builder /opt/venv /opt/venv
WORKDIR /srv/syncd
# Numeric, so an orchestrator can check "not root" without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# The image has no curl; Python's urllib fails (exit 1) on a refused or non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=4)"]
ENTRYPOINT ["syncd"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
