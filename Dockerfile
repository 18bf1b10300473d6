# One image for every trackhouse role; the compose command picks api, worker or migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRACKHOUSE_HOST=0.0.0.0

WORKDIR /src
# Only what the wheel needs, so edits to tests or compose files do not bust the layer.
COPY pyproject.toml README.md ./
COPY api ./api
COPY worker ./worker
COPY shared ./shared
COPY cli ./cli
RUN pip install --no-cache-dir .

# Fixed UID/GID so file ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 trackhouse \
    && useradd --system --uid 10001 --gid trackhouse --create-home --shell /usr/sbin/nologin trackhouse
WORKDIR /home/trackhouse
USER trackhouse:trackhouse

EXPOSE 8000
CMD ["trackhouse", "api"]
