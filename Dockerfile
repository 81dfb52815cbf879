# One image for every Mesa service; the command picks the service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY ops ./ops
COPY services ./services
COPY deploy ./deploy
RUN pip install --no-cache-dir .
ENV MESA_HTTP_HOST=0.0.0.0
USER nobody
