# One image for the API and the workers (the command differs per service).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY settings.py worker.py payload_codec.py telemetry.py ./
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY alembic ./alembic
COPY alembic.ini ./
COPY templates ./templates
RUN pip install --no-cache-dir .
# bytecode for the sources run from /app (PYTHONDONTWRITEBYTECODE: Python never writes
# it itself, so every process start would compile every module again)
RUN python -m compileall -q /app
RUN useradd --create-home relayflow
USER relayflow
EXPOSE 8000
CMD ["uvicorn", "api.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
