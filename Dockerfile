# newswatch: one image for every role of the stack (migrate, worker, beat, serve).
#
#   docker build -t newswatch .
#   docker run --rm newswatch config
#
# Two stages: the first installs the project into a virtualenv, the second copies only
# that virtualenv, so no build tools, pip cache or source tree end up in the image. Every
# compiled dependency (pycld2, pyahocorasick, psycopg-binary, ...) ships a manylinux wheel,
# so neither stage needs a compiler.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY worker ./worker
# worker/deliver/template_files links to ../../templates: the built-in templates go into the package.
COPY templates ./templates
# The venv has no pip of its own: the base image's pip installs into it.
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install . \
    && /opt/venv/bin/newswatch --help > /dev/null


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NEWSWATCH_CONFIG_DIR=/app/config \
    NEWSWATCH_DATA_DIR=/data

# A fixed uid, so bind mounts and named volumes can be given to it on the host.
RUN groupadd --system --gid 10001 newswatch \
    && useradd --system --uid 10001 --gid newswatch --home-dir /app \
        --no-create-home --shell /usr/sbin/nologin newswatch \
    && mkdir -p /data \
    && chown newswatch:newswatch /data

COPY --from=build /opt/venv /opt/venv

# The code lives in /opt/venv, owned by root; /app holds the default configuration, the
# sample inbox and the templates, read-only for the app. Only /data is written to.
WORKDIR /app
COPY config ./config
COPY seeds ./seeds
COPY templates ./templates

USER newswatch
VOLUME ["/data"]
EXPOSE 8000

# No HEALTHCHECK here: the same image runs the worker, beat, the web app and the one-off
# migration, and each needs a different probe. docker-compose.yml sets one per service.
ENTRYPOINT ["newswatch"]
CMD ["--help"]
