# The engine-build image: the pinned NGC TensorRT-LLM image (build_engines/trtllm/pins.py, NGC_IMAGE) with this
# project's build side in it, for the Helm chart's engine-build Job (engineBuild.image) or a `docker run` on a
# GPU machine. No image is published: build and push your own, from the repository root:
#
#   docker build -f docker/build.Dockerfile -t registry.example.com/triton-llm/engine-build:26.04 .
#   docker push registry.example.com/triton-llm/engine-build:26.04
#
# Its entry point is `python3 -m build_engines` (engine, gpu-repo, plan; `--help` by default). tests/helm checks
# the base image against pins.py, that every COPY source exists, and that the entry point runs from exactly the
# files copied here (the image itself is not built in the tests: it needs the 14 GB NGC image).
FROM nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/opt/triton-llm \
    TRTLLM_EXAMPLES_DIR=/opt/trtllm-examples

# The example scripts (convert_checkpoint.py per model family, quantize.py) ship with the image, not the wheel.
# The sources disagree on where: the r26.04 backend Dockerfile copies them to /app/examples, its README runs
# them from /app/tensorrt_llm/examples (docs/upstream/trtllm-1.2-deployment.md, Q8; pins.IMAGE_EXAMPLES_DIRS).
# Link whichever holds the Llama converter to one fixed path, or fail this build naming both.
RUN for dir in /app/examples /app/tensorrt_llm/examples; do \
      if [ -f "${dir}/models/core/llama/convert_checkpoint.py" ]; then ln -s "${dir}" /opt/trtllm-examples; break; fi; \
    done; \
    test -e /opt/trtllm-examples || { echo "no TensorRT-LLM examples in /app/examples or /app/tensorrt_llm/examples" >&2; exit 1; }

# The client side gpu-repo imports (tritonclient's gRPC config messages), at pyproject.toml's version. Nothing
# else: torch, transformers, numpy and xgrammar are the image's own (TensorRT-LLM 1.2.1's pins), and the
# project itself is not pip-installed, so no dependency of pyproject.toml replaces them.
RUN pip install tritonclient[grpc]==2.73.0

# From source, not installed: gpu-repo copies python_backend/ and model_repository/ into every repository it
# assembles, and finds them beside build_engines/. acceptance's preflight checks a machine before a build.
WORKDIR /opt/triton-llm
COPY build_engines/ build_engines/
COPY python_backend/ python_backend/
COPY model_repository/ model_repository/
COPY acceptance/__init__.py acceptance/__init__.py
COPY acceptance/gpu_check/__init__.py acceptance/gpu_check/__init__.py
COPY acceptance/gpu_check/preflight.py acceptance/gpu_check/preflight.py

# The chart runs it as uid 1000 with a read-only root filesystem and HOME=/tmp; builds write only to the
# directories they are given (--output, --work-dir).
USER 1000
ENTRYPOINT ["python3", "-m", "build_engines"]
CMD ["--help"]
