# One image for every service; SERVICE picks which one runs (registry, eligibility, ...).
FROM python:3.11-slim
# Bytecode is compiled at build time (UV_COMPILE_BYTECODE, compileall below), not by every process at
# start: a job worker spent ~4 s of CPU compiling its imports when none was cached.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY services ./services
RUN uv sync --frozen --no-dev && python -m compileall -q shared services
ARG SERVICE=registry
ENV SERVICE=${SERVICE}
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status==200 else 1)"
CMD ["sh", "-c", "uv run --frozen --no-dev python -m services.${SERVICE} serve --migrate --host 0.0.0.0 --port 8000"]
