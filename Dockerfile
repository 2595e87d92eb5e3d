# The shop in a small image. The base is a build argument so that a machine without access to an
# image registry can build on a local Debian base that has only python3, python3-venv and
# ca-certificates (scripts/build-base-image.sh); everything is installed into a venv at /opt/venv,
# which works on both that base and the official python image.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

RUN groupadd --system --gid 10001 shop \
 && useradd --system --uid 10001 --gid shop --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin shop \
 && mkdir -p /app /data \
 && chown shop:shop /data

WORKDIR /app
# Only what the app needs at run time; .dockerignore keeps tests, caches and local data out.
COPY *.py ./
COPY handlers/ handlers/
COPY sessions/ sessions/
COPY shop/ shop/
COPY templates/ templates/
COPY static/ static/
COPY data/ data/

ENV HOST=0.0.0.0 \
    PORT=8888 \
    DATA_DIR=/data
# Declared after the chown so that a new named volume starts out owned by the app's user.
VOLUME /data
EXPOSE 8888
USER shop

# No curl in the base: ask /healthz with the standard library. Non-2xx or no answer fails the check.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8888'), timeout=4)"]

# Exec form: python is PID 1 and gets docker's SIGTERM itself, so a `docker stop` drains and exits 0.
CMD ["/opt/venv/bin/python", "app.py"]
