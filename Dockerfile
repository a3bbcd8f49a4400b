# One image for every platform process (daemon, simulator, Dagster, dashboard).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md workspace.yaml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY quant_platform ./quant_platform
COPY dashboard ./dashboard
RUN pip install --no-cache-dir --no-deps -e . && mkdir -p /data/dagster
ENV QP_DATA_DIR=/data DAGSTER_HOME=/data/dagster
