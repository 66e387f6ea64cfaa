FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY query query
COPY adapters adapters
COPY logriver logriver
COPY mappings mappings
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["logriver", "serve"]
