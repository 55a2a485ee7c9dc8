# The OpenAI-compatible gateway (python -m client.openai_gateway) as an image for the Helm chart's sidecar
# (openaiGateway.*). No image is published: build and push your own, from the repository root:
#
#   docker build -f docker/openai-gateway.Dockerfile -t registry.example.com/triton-llm/openai-gateway:0.1.0 .
#   docker push registry.example.com/triton-llm/openai-gateway:0.1.0
#
# It holds only what the gateway imports: the client package and the request contract it shares with the server
# (python_backend/contract), plus the packages below at the versions pyproject.toml pins (tests/helm checks both).
# transformers and tokenizers count prompt tokens with the repository's tokenizer (--tokenizer-dir).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1

RUN pip install \
      fastapi==0.163.2 \
      uvicorn==0.54.0 \
      tritonclient[grpc]==2.73.0 \
      protobuf==6.33.6 \
      httpx==0.28.1 \
      numpy==1.26.4 \
      transformers==5.23.0 \
      tokenizers==0.23.3

WORKDIR /opt/triton-llm
COPY client/ client/
COPY python_backend/__init__.py python_backend/__init__.py
COPY python_backend/contract/ python_backend/contract/

# The chart runs it as uid 1000 with a read-only root filesystem and HOME=/tmp.
USER 1000
EXPOSE 9000
CMD ["python", "-m", "client.openai_gateway", "--host", "0.0.0.0", "--port", "9000"]
