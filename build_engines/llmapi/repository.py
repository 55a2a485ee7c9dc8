"""`gpu-repo --gpu-engine pytorch`: the shared ensemble/preprocessing/postprocessing + an `engine` model
that runs TensorRT-LLM's LLM API (PyTorch backend) on an HF checkpoint, no engine build.

The engine model keeps the `tensorrt_llm` model's tensor contract (engine_config.declare_io, the very
inputs and outputs the engine path declares), so clients and the ensemble cannot tell the paths apart.
Its config.pbtxt: backend "python", decoupled, the engine model's parameters
(python_backend/llmapi/config.LlmApiModelConfig); engine/1/: model.py
(model_repository/llmapi_engine/1/model.py), python_backend/ and model.yaml (the LLM's arguments,
settings.LlmApiSettings). The checkpoint is read where model.yaml's `model` says at serve time:
<repo-mount-path>/engine/1/checkpoint unless --checkpoint-path names another place (a PVC, an init
download); --bundle-checkpoint links it into the repository there. --lora-dir: LoRA adapters by
request name (lora.py says what it writes).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as pb

from python_backend.llmapi.config import LlmApiModelConfig
from python_backend.triton_io.preprocess import TENSORRT_LLM

from .. import manifest as shared_manifest
from .. import model_config
from ..model_config import ModelConfig
from ..shared_models import (
    LORA_ENGINE_INPUTS,
    PROJECT_ROOT,
    PYTHON_BACKEND,
    assemble_shared_models,
    link_tree,
)
from ..trtllm.engine_config import declare_io
from ..trtllm.recipes import GATHER_LOGITS, gathers
from ..trtllm.repository import CHART_MOUNT_PATH, MODELS
from . import memory_check, model_yaml
from .checkpoint_facts import CheckpointFacts, check_precision
from .lora import LoraSettings, declare_lora_name, describe_lora, serve_lora_dir
from .settings import CudaGraphSettings, KvCacheSettings, LlmApiSettings
from .speculative import Speculative

ENGINE_MODEL = PROJECT_ROOT / "model_repository" / "llmapi_engine" / "1" / "model.py"
# Where a bundled checkpoint goes: inside the engine model, as the engine path's engine/1/trtllm_engine. Not
# a top-level directory: Triton takes every directory of the repository for a model and refuses to start
# ("failed to load model 'checkpoint': at least one version must be available").
CHECKPOINT_SUBDIR = "engine/1/checkpoint"
MODEL_YAML = "model.yaml"  # engine/1/, LlmApiModelConfig.llm_config_path's default


@dataclass(frozen=True, kw_only=True)
class PytorchRepoRequest:
    checkpoint: Path  # on the assembling host: tokenizer, config.json, quantization
    output: Path
    precision: str = "fp16"
    repo_mount_path: str | None = None  # where tritonserver sees `output`; None: CHART_MOUNT_PATH
    # where the server finds the checkpoint; None: <mount>/engine/1/checkpoint (CHECKPOINT_SUBDIR)
    checkpoint_path: str | None = None
    bundle_checkpoint: bool = False
    tp: int = 1
    pp: int = 1
    max_batch_size: int = 64  # as the engine path's default build
    max_num_tokens: int = 8192  # TorchLlmArgs' default
    max_seq_len: int | None = None  # None: min(4096, the checkpoint's max_position_embeddings)
    max_input_len: int | None = None  # None: max_seq_len - 1 (any prompt that leaves one token)
    gather_logits: str = "none"  # as `make engines GATHER_LOGITS=`: generation logits cost GPU memory
    kv_cache: KvCacheSettings = field(default_factory=KvCacheSettings)
    cuda_graph: CudaGraphSettings = field(default_factory=CudaGraphSettings)
    speculative: Speculative | None = None
    guided_decoding_backend: str | None = "xgrammar"
    max_queue_size: int = 256
    max_queue_delay_microseconds: int = 0
    gpu_device_ids: str = ""  # one instance per ';'-separated set (upstream's docs/llmapi.md)
    gpu: str | None = None  # the serving GPU (capacity/gpus.py): the KV budget is checked for it
    cancellation_check_period_ms: int = 100
    stats_check_period_ms: int = 100
    lora_dir: str = ""  # the adapter directory as the server sees it; "": LoRA off
    lora: LoraSettings = field(default_factory=LoraSettings)  # written only with lora_dir

    def __post_init__(self) -> None:
        check_precision(self.precision)
        serve_lora_dir(self.lora_dir)
        if self.gather_logits not in GATHER_LOGITS:
            raise ValueError(
                f"gather_logits must be one of {', '.join(GATHER_LOGITS)}, got {self.gather_logits!r}"
            )
        for name in ("max_queue_size", "max_queue_delay_microseconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class PytorchRepoPlan:
    """What will be written, validated; nothing is written yet."""

    settings: LlmApiSettings  # model.yaml
    model: LlmApiModelConfig  # engine/config.pbtxt parameters
    instances: int  # Triton instances of the engine model (one per gpu_device_ids set)
    notes: tuple[str, ...]


def mount_path(req: PytorchRepoRequest) -> str:
    mount = req.repo_mount_path or CHART_MOUNT_PATH
    if not mount.startswith("/"):
        raise ValueError(f"--repo-mount-path must be absolute (the path tritonserver sees), got {mount!r}")
    return mount.rstrip("/") or "/"


def serve_checkpoint_path(req: PytorchRepoRequest) -> str:
    """model.yaml's `model`: the checkpoint as the server sees it, never this host's path."""
    if req.checkpoint_path is None:
        return f"{mount_path(req).rstrip('/')}/{CHECKPOINT_SUBDIR}"
    if not req.checkpoint_path.startswith("/"):
        raise ValueError(
            f"--checkpoint-path must be absolute (as the server sees it), got {req.checkpoint_path!r}"
        )
    if req.bundle_checkpoint:
        raise ValueError(
            "--bundle-checkpoint puts the checkpoint at <repo-mount-path>/engine/1/checkpoint; "
            f"--checkpoint-path {req.checkpoint_path} names another place: give one of them"
        )
    return req.checkpoint_path


def plan_repo(req: PytorchRepoRequest, *, facts: CheckpointFacts | None) -> PytorchRepoPlan:
    """Validate everything. facts None: the checkpoint is not on this host (a dry run), so its limits
    cannot be checked; a note says so."""
    notes = []
    if facts is None:
        notes.append(
            f"{req.checkpoint}: no config.json here, so max_seq_len is not checked against the model's "
            "context and the precision not against its hf_quant_config.json (a dry run plans only)"
        )
        max_seq_len = req.max_seq_len or 4096
    else:
        facts.check(req.precision)
        max_seq_len = facts.max_seq_len(req.max_seq_len)
    generation, _ = gathers(req.gather_logits)
    model = LlmApiModelConfig(
        llm_config_path=MODEL_YAML,
        cancellation_check_period_ms=req.cancellation_check_period_ms,
        stats_check_period_ms=req.stats_check_period_ms,
        gpu_device_ids=req.gpu_device_ids,
        # As the engine path's gpu-repo: output_ids hold the generated tokens only.
        exclude_input_in_output=True,
        # The same bound as the model's queue policy: the frontend applies it (the LLM API has none).
        max_queue_size=req.max_queue_size,
        lora_dir=serve_lora_dir(req.lora_dir),
    )
    world = req.tp * req.pp
    for ids in model.device_sets:
        if len(ids) != world:
            raise ValueError(
                f"gpu_device_ids set {','.join(map(str, ids))} has {len(ids)} GPU(s); each instance "
                f"needs tensor_parallel_size x pipeline_parallel_size = {world}"
            )
    settings = LlmApiSettings(
        model=serve_checkpoint_path(req),
        max_batch_size=req.max_batch_size,
        max_num_tokens=req.max_num_tokens,
        max_seq_len=max_seq_len,
        max_input_len=req.max_input_len or max_seq_len - 1,
        tensor_parallel_size=req.tp,
        pipeline_parallel_size=req.pp,
        kv_cache=req.kv_cache,
        cuda_graph=req.cuda_graph,
        speculative=req.speculative,
        guided_decoding_backend=req.guided_decoding_backend,
        gather_generation_logits=generation,
        lora=req.lora if model.lora_dir else None,
    )
    model_yaml.check(settings.to_yaml())
    if req.gpu is not None and facts is not None:
        notes += memory_check.kv_budget_lines(settings, req.checkpoint, req.gpu, req.precision)
    return PytorchRepoPlan(
        settings=settings, model=model, instances=max(1, len(model.device_sets)), notes=tuple(notes)
    )


def engine_model_config(plan: PytorchRepoPlan, req: PytorchRepoRequest) -> ModelConfig:
    cfg = ModelConfig()
    cfg.name = "engine"
    cfg.backend = "python"
    cfg.max_batch_size = plan.settings.max_batch_size
    cfg.model_transaction_policy.decoupled = True  # streaming, and several responses per request
    batching = cfg.dynamic_batching
    batching.preferred_batch_size.append(plan.settings.max_batch_size)
    batching.max_queue_delay_microseconds = req.max_queue_delay_microseconds
    # Past max_queue_size Triton rejects at once (UNAVAILABLE), as on the engine path.
    batching.default_queue_policy.max_queue_size = req.max_queue_size
    # With LoRA: tensorrtllm_backend's lora inputs too (the ensemble feeds them; the model refuses them
    # by name), and ours, lora_name.
    declare_io(cfg, lora=bool(plan.model.lora_dir))
    if plan.model.lora_dir:
        declare_lora_name(cfg)
    # Instances on the CPU: the LLM API drives its GPUs from its own worker processes.
    cfg.instance_group.add(count=plan.instances, kind=pb.ModelInstanceGroup.KIND_CPU)
    for key, value in plan.model.to_parameters().items():
        model_config.set_parameter(cfg, key, value)
    return cfg


def engine_traits(plan: PytorchRepoPlan, req: PytorchRepoRequest):
    generation, context = gathers(req.gather_logits)
    return replace(TENSORRT_LLM, generation_logits=generation, context_logits=context, lookahead=False)


def assemble(req: PytorchRepoRequest) -> Path:
    facts = CheckpointFacts.read(req.checkpoint)
    plan = plan_repo(req, facts=facts)
    settings = plan.settings
    shutil.rmtree(req.output / "engine", ignore_errors=True)
    assemble_shared_models(
        req.output,
        req.checkpoint,
        max_batch_size=settings.max_batch_size,
        engine_max_seq_len=settings.max_seq_len,
        max_input_len=settings.max_input_len,
        kv_cache_tokens_per_block=settings.kv_cache.tokens_per_block,
        engine=engine_traits(plan, req),
        lora_dir=plan.model.lora_dir,
        lora_format="name",  # the engine model takes the adapter by name (python_backend/llmapi/lora.py)
        lora_engine_inputs=LORA_ENGINE_INPUTS if plan.model.lora_dir else (),
    )
    version_dir = req.output / "engine" / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    config_path = req.output / "engine" / "config.pbtxt"
    model_config.save(engine_model_config(plan, req), config_path)
    model_config.load(config_path)  # what we wrote must parse back as a ModelConfig
    shutil.copy2(ENGINE_MODEL, version_dir / "model.py")
    shutil.rmtree(version_dir / "python_backend", ignore_errors=True)
    shutil.copytree(
        PYTHON_BACKEND, version_dir / "python_backend", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    model_yaml.write(settings, version_dir / MODEL_YAML)
    if req.bundle_checkpoint:
        link_tree(req.checkpoint, req.output / CHECKPOINT_SUBDIR)
    shared_manifest.write(
        req.output,
        artifact="triton-model-repository",
        path="gpu",
        gpu_engine="pytorch",
        models=list(MODELS),
        # One tritonserver process: the LLM API starts its own tp x pp workers (launcher: one rank).
        tp=1,
        pp=1,
        world_size=1,
        llm_api={
            "tensor_parallel_size": req.tp,
            "pipeline_parallel_size": req.pp,
            "model_yaml": settings.to_yaml(),
        },
        engine={"backend": "python", "model": "llmapi_engine", "parameters": plan.model.to_parameters()},
        precision=req.precision,
        checkpoint_bundled=req.bundle_checkpoint,
        max_input_len=settings.max_input_len,
        tokenizer=str(req.checkpoint),
        lora_dir=plan.model.lora_dir,
    )
    return req.output


def describe(req: PytorchRepoRequest, plan: PytorchRepoPlan) -> str:
    """The dry-run report: what would be written, each model.yaml key with its source."""
    s = plan.settings
    engine = req.output / "engine"
    where = (
        f"bundled: would link {req.checkpoint} -> {req.output / CHECKPOINT_SUBDIR}"
        if req.bundle_checkpoint
        else "not bundled: a PVC, an S3 sync or an init download must put it there"
    )
    lines = [
        f"# would write the shared models ensemble, preprocessing, postprocessing into {req.output} "
        f"(max_batch_size={s.max_batch_size}, max_seq_len={s.max_seq_len}, max_input_len={s.max_input_len}, "
        f"tokenizer {req.checkpoint}, KV block {s.kv_cache.tokens_per_block} tokens)",
        f"# the engine model's paths are written for tritonserver seeing {req.output} at {mount_path(req)}",
        f"# the LLM API loads the checkpoint from {s.model} at serve time ({where})",
        describe_lora(plan.model.lora_dir),
        f"# would copy {ENGINE_MODEL.relative_to(PROJECT_ROOT)} and python_backend/ into {engine / '1'}",
        f"# would write {engine / 'config.pbtxt'}:",
        model_config.dump(engine_model_config(plan, req)).rstrip(),
        f"# would write {engine / '1' / MODEL_YAML}:",
        model_yaml.render(s).rstrip(),
        "# where each model.yaml key is defined (TensorRT-LLM 1.2.1 sources):",
        *model_yaml.citations(s.to_yaml()),
        f"# would write {req.output / 'manifest.json'} (gpu_engine=pytorch, tp={req.tp}, pp={req.pp})",
    ]
    return "\n".join(lines)
