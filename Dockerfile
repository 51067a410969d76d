# The HiClaw controller's image: one image for every process of a deployment (docs/image.md).
#
#   make image                                              # on a debootstrapped base, no registry needed
#   docker build --build-arg BASE=debian:bookworm-slim .    # on Docker Hub's Debian image
#
# The base must be Debian bookworm (Python 3.11). A base made by scripts/build-image.sh
# already holds every Debian package named below, so apt is only used on another base.
ARG BASE=debian:bookworm-slim

# --- system: the Debian packages every stage needs ---------------------------------------
FROM ${BASE} AS system
# python3 runs the controller; ca-certificates for HTTPS to Matrix, S3, the gateway and
# Kubernetes; tzdata for Django's and Celery's time zones; tini as PID 1, which forwards
# signals and reaps the agent processes a Celery worker starts with the process backend.
ARG PACKAGES="python3 ca-certificates tzdata tini"
RUN missing=$(for p in ${PACKAGES}; do \
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || echo "$p"; done); \
    if [ -n "$missing" ]; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \
        && apt-get clean && rm -rf /var/lib/apt/lists/*; \
    fi

# --- builder: the virtualenv, made where pip and venv may leave their tools ----------------
FROM system AS builder
RUN dpkg-query -W -f='${db:Status-Status}' python3-venv 2>/dev/null | grep -qx installed \
    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv; }
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# requirements.txt before the code: a code change reuses the installed virtualenv layer.
COPY requirements.txt /tmp/requirements.txt
# CA certificates of a proxy that inspects HTTPS on the building machine (scripts/build-image.sh
# passes those added to its trust store): pip trusts them in this stage only, so they never
# reach the image.
ARG BUILD_CA_CERTS=""
# The lock pins every package with its hashes; binary wheels only, so no compiler is needed
# and nothing is built from an unpinned source. pip and setuptools leave with the builder.
RUN python3 -m venv /opt/venv \
    && if [ -n "$BUILD_CA_CERTS" ]; then \
        cat /etc/ssl/certs/ca-certificates.crt > /tmp/build-ca.pem \
        && printf '%s\n' "$BUILD_CA_CERTS" >> /tmp/build-ca.pem && export PIP_CERT=/tmp/build-ca.pem; \
    fi \
    && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools
# Only what runs: the Django project, its apps, templates and static sources (the
# .dockerignore lets nothing else in). Byte-compiled here, as the running user may not write /app.
COPY manage.py pyproject.toml /app/
COPY hiclaw_site /app/hiclaw_site
COPY controller /app/controller
COPY debugui /app/debugui
COPY templates /app/templates
COPY static /app/static
RUN /opt/venv/bin/python -m compileall -q /app

# --- the image ----------------------------------------------------------------------------
FROM system
ARG VERSION=dev
LABEL org.opencontainers.image.title="HiClaw controller" \
      org.opencontainers.image.description="Reconciles teams of AI agents onto Docker, Kubernetes or local processes." \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 hiclaw \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin hiclaw \
    && mkdir /data && chown 10001:10001 /data && chmod 0700 /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
# The data dir holds the signing key when DJANGO_SECRET_KEY is unset, the embedded SQLite
# database and broker, file storage and the process backend's state: a volume, owned by the user.
# Static files are served from the app's folders (SERVESTATIC_USE_FINDERS), so no
# collectstatic: its STATIC_ROOT would lie inside this volume, hidden by any mounted one.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HICLAW_DATA_DIR=/data \
    PORT=8000
VOLUME /data
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness of the web process, with the standard library (no curl in the image). The Host
# header is the first of DJANGO_ALLOWED_HOSTS, so a deployment that serves only its own
# name still answers. Containers running another command (Celery, hiclaw_watch) serve no
# HTTP: start them with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", "import os, urllib.request as r; host = (os.environ.get('DJANGO_ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('.').replace('*', 'localhost') or 'localhost'; r.urlopen(r.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': host}), timeout=4)"]
ENTRYPOINT ["tini", "--"]
# The web process: migrates, makes sure an admin login exists and serves HTTP and WebSocket
# (uvicorn, ASGI). Other commands: `celery -A hiclaw_site worker`, `celery -A hiclaw_site beat`,
# `python manage.py migrate`, `python manage.py hiclaw_watch` (docs/image.md).
CMD ["python", "manage.py", "hiclaw_run", "--host", "0.0.0.0"]
