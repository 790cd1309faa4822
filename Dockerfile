# One image for every process (migrate, api, worker, scheduler); compose picks the command.
# tests/e2e/test_image_contents.py installs and runs exactly what this file copies; tests/unit/test_dockerfile.py
# lints it with hadolint.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH="/opt/venv/bin:$PATH"

RUN pip install --no-cache-dir uv==0.13.9 \
    && useradd --system --uid 10001 cratedigger

WORKDIR /srv/cratedigger
COPY pyproject.toml uv.lock README.md ./
# The tracing extra is in the image, so OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on.
RUN uv sync --frozen --no-dev --extra tracing --no-install-project
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN uv sync --frozen --no-dev --extra tracing

USER 10001
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
