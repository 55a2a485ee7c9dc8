"""`gpu-repo`: the shared ensemble/preprocessing/postprocessing + a `tensorrtllm` `engine` model.

Before anything is written, the request is checked against the engine it will serve (its facts as
engine_facts.py reads them) and against the GPU/TensorRT-LLM it will run on; every refusal names
the values that disagree.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from python_backend.contract import tokenizer_info
from python_backend.triton_io.preprocess import TENSORRT_LLM

from .. import manifest as shared_manifest
from .. import model_config
from ..manifest import EngineManifest
from ..shared_models import assemble_shared_models, link_tree, write_tokenizer_info
from . import environment
from .engine_config import TrtllmEngineModel
from .engine_facts import EngineFacts, resolve_engine_dir
from .lookahead import Lookahead, check_serves
from .lora import LoraCacheRequest, cache_for, describe_lora, shared_models_lora

ENGINE_SUBDIR = "trtllm_engine"  # engine files inside engine/1/
# Guided decoding: the backend's xgrammar reads this file (python_backend/contract/tokenizer_info.py)
TOKENIZER_INFO = tokenizer_info.FILE_NAME  # inside engine/1/
MODELS = ("ensemble", "preprocessing", "engine", "postprocessing")
# Where the Helm chart's pods see the repository (helm/triton-llm/values.yaml modelRepository.mountPath
# + path): the engine's paths are written for it unless --repo-mount-path says otherwise, never for
# the host that assembles it (python_backend/contract/repo_paths.py checks them before Triton starts).
CHART_MOUNT_PATH = "/models/repository"


@dataclass
class GpuRepoRequest:
    engine_dir: Path
    tokenizer_dir: Path
    output: Path
    triton_max_batch_size: int | None = None  # default: the engine's max_batch_size
    max_queue_size: int = 256
    max_queue_delay_microseconds: int = 0
    kv_cache_free_gpu_mem_fraction: float | None = 0.9
    max_tokens_in_paged_kv_cache: int | None = None
    enable_kv_cache_reuse: bool | None = None  # None: on when the engine has paged context FMHA
    enable_chunked_context: bool | None = None  # None: on when the engine has paged context FMHA
    batch_scheduler_policy: str = "guaranteed_no_evict"
    exclude_input_in_output: bool = True
    max_beam_width: int = 1
    decoupled: bool = True
    streaming: bool = True  # clients will stream tokens (needs decoupled mode)
    max_prompt_len: int | None = None  # default: the engine's max_input_len
    max_tokens: int | None = None  # largest max_tokens served; default: max_seq_len - max_prompt_len
    cancellation_check_period_ms: int = 100
    stats_check_period_ms: int = 100
    repo_mount_path: str | None = None  # where tritonserver will see `output`; None: CHART_MOUNT_PATH
    target_sm: int | None = None  # default: this machine's GPU 0, when it has one
    target_trtllm_version: str | None = None  # default: this machine's tensorrt_llm, when installed
    lookahead: Lookahead | None = None  # default: the sizes a lookahead engine was built for
    lora: LoraCacheRequest = field(default_factory=LoraCacheRequest)  # a LoRA engine's cache, LORA_DIR

    def __post_init__(self) -> None:
        self.engine_dir = resolve_engine_dir(Path(self.engine_dir))
        self.tokenizer_dir = Path(self.tokenizer_dir)
        self.output = Path(self.output)


def engine_defaults(req: GpuRepoRequest, facts: EngineFacts) -> tuple[GpuRepoRequest, list[str]]:
    """Fill the options left unset (None) from what the engine can do; a note says what was derived.

    KV-cache reuse and chunked context both need paged context FMHA, which an int8_kv engine lacks
    (recipes.NO_PAGED_CONTEXT_FMHA): for such an engine both default to off instead of being refused.
    """
    unset = [
        name for name in ("enable_kv_cache_reuse", "enable_chunked_context") if getattr(req, name) is None
    ]
    notes = []
    if unset and not facts.use_paged_context_fmha:
        notes.append(
            f"{facts.source} has no paged context FMHA (TensorRT-LLM builds an INT8 KV cache without "
            f"it), so {' and '.join(unset)} default to false; without chunked context a prompt "
            f"must fit max_num_tokens ({facts.max_num_tokens}) in one iteration"
        )
    return replace(req, **{name: facts.use_paged_context_fmha for name in unset}), notes


def cross_check(req: GpuRepoRequest, facts: EngineFacts) -> tuple[int, int, int]:
    """Refuse combinations that cannot work; return (triton max batch, max prompt, max tokens)."""
    batch = req.triton_max_batch_size or facts.max_batch_size
    if batch > facts.max_batch_size:
        raise ValueError(
            f"Triton max_batch_size {batch} is above the engine's max_batch_size "
            f"{facts.max_batch_size} ({facts.source}); lower it or rebuild the engine"
        )
    if req.streaming and not req.decoupled:
        raise ValueError(
            "streaming needs decoupled mode (model_transaction_policy { decoupled: true }); "
            "got streaming=true with decoupled=false"
        )
    # Without paged context FMHA the 1.2 executor refuses chunked context at model load (TLLM_CHECK "Chunked
    # context requires context FMHA, paged kv_cache and paged context FMHA") and turns KV reuse off with a
    # warning (fixExecutorConfig): both in the TrtGptModelInflightBatching constructor,
    # cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp of NVIDIA/TensorRT-LLM at
    # b35ac1b64368513d215c57d2ed01d62d910df8da. Both are refused here, so the config says what runs.
    if not facts.use_paged_context_fmha:
        for name in ("enable_kv_cache_reuse", "enable_chunked_context"):
            if getattr(req, name):
                raise ValueError(
                    f"{name}=true needs an engine built with --use_paged_context_fmha enable, "
                    f"but {facts.source} has use_paged_context_fmha=false; rebuild the engine "
                    f"or set {name}=false"
                )
    if req.max_beam_width > facts.max_beam_width:
        raise ValueError(
            f"max_beam_width {req.max_beam_width} is above the engine's max_beam_width {facts.max_beam_width}"
        )
    prompt = req.max_prompt_len or facts.max_input_len
    if prompt > facts.max_input_len:
        raise ValueError(f"max_prompt_len {prompt} is above the engine's max_input_len {facts.max_input_len}")
    max_tokens = req.max_tokens if req.max_tokens is not None else facts.max_seq_len - prompt
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if prompt + max_tokens > facts.max_seq_len:
        raise ValueError(
            f"max_tokens {max_tokens} + prompt {prompt} = {prompt + max_tokens} tokens is beyond "
            f"the engine's max_seq_len {facts.max_seq_len}"
        )
    # The executor's longest input is max_seq_len - 1 with chunked context and, without it (context FMHA
    # and packed input, which every recipe builds), min(max_seq_len - 1, max_num_tokens): TrtGptModel's
    # constructor, cpp/tensorrt_llm/batch_manager/trtGptModel.h of NVIDIA/TensorRT-LLM at
    # c8c6df08bd0ead54cd47f7973e1e425c28a174cd. prompt <= max_seq_len - 1 already holds (max_tokens >= 1),
    # so max_num_tokens is what is left to check; `prompt` is what preprocessing then enforces.
    if prompt > facts.max_num_tokens and not req.enable_chunked_context:
        raise ValueError(
            f"a {prompt}-token prompt is above the engine's max_num_tokens {facts.max_num_tokens} "
            "per iteration; enable_chunked_context=true is needed to serve it"
        )
    return batch, prompt, max_tokens


@dataclass(frozen=True)
class RepoPlan:
    """What `gpu-repo` will write, validated; nothing is written yet."""

    model: TrtllmEngineModel  # the engine model's config
    facts: EngineFacts  # the engine it serves
    manifest: EngineManifest | None  # None: a planned engine (dry run before the build)
    max_input_len: int  # longest prompt the engine accepts (cross_check); preprocessing refuses longer ones
    notes: tuple[str, ...]  # defaults derived from the engine, for the operator to read


def mount_path(req: GpuRepoRequest) -> str:
    """The path tritonserver will see the repository at: every path the engine config names is under it."""
    mount = req.repo_mount_path or CHART_MOUNT_PATH
    if not mount.startswith("/"):
        raise ValueError(f"--repo-mount-path must be absolute (the path tritonserver sees), got {mount!r}")
    return mount.rstrip("/") or "/"


def plan_repo(
    req: GpuRepoRequest, *, env: environment.GpuEnvironment | None = None, planned: EngineFacts | None = None
) -> RepoPlan:
    """Validate everything and return what to write (nothing is written)."""
    try:
        manifest = EngineManifest.load(req.engine_dir)
    except FileNotFoundError:
        if planned is None:
            raise FileNotFoundError(
                f"{req.engine_dir}: no manifest.json; build the engine with "
                "`python -m build_engines engine` first"
            ) from None
        manifest = None
    facts = planned if manifest is None else EngineFacts.from_engine_dir(req.engine_dir, manifest)
    if manifest is not None:
        env = environment.detect() if env is None else env
        sm = req.target_sm if req.target_sm is not None else (env.gpus[0].sm if env.gpus else None)
        version = req.target_trtllm_version or env.trtllm_version
        manifest.check_runtime(gpu_sm=sm, trtllm_version=version)
    req, notes = engine_defaults(req, facts)
    batch, max_input_len, _ = cross_check(req, facts)
    lookahead = facts.lookahead_sizes(req.lookahead)  # beam width 1 is TrtllmEngineModel's rule
    check_serves(facts.speculative_decoding_mode, facts.max_draft_len, lookahead, facts.source)
    mount = mount_path(req)
    model = TrtllmEngineModel(
        # Guided decoding on, as on the CPU engine: the shared ensemble sends guided_decoding_* inputs.
        guided_decoding_backend="xgrammar",
        xgrammar_tokenizer_info_path=f"{mount.rstrip('/')}/engine/1/{TOKENIZER_INFO}",
        engine_path=f"{mount.rstrip('/')}/engine/1/{ENGINE_SUBDIR}",
        max_batch_size=batch,
        decoupled=req.decoupled,
        max_queue_size=req.max_queue_size,
        max_queue_delay_microseconds=req.max_queue_delay_microseconds,
        max_beam_width=req.max_beam_width,
        batch_scheduler_policy=req.batch_scheduler_policy,
        kv_cache_free_gpu_mem_fraction=req.kv_cache_free_gpu_mem_fraction,
        max_tokens_in_paged_kv_cache=req.max_tokens_in_paged_kv_cache,
        enable_kv_cache_reuse=req.enable_kv_cache_reuse,
        enable_chunked_context=req.enable_chunked_context,
        exclude_input_in_output=req.exclude_input_in_output,
        cancellation_check_period_ms=req.cancellation_check_period_ms,
        stats_check_period_ms=req.stats_check_period_ms,
        lookahead=lookahead,
        lora=cache_for(req.lora, facts.lora),
    )
    return RepoPlan(
        model=model, facts=facts, manifest=manifest, max_input_len=max_input_len, notes=tuple(notes)
    )


def print_note(note: str) -> None:
    print(f"note: {note}", file=sys.stderr)


def assemble_gpu(
    req: GpuRepoRequest, *, env: environment.GpuEnvironment | None = None, out=print_note
) -> Path:
    """Validate, write the repository, and pass each derived default's note to `out`."""
    plan = plan_repo(req, env=env)
    for note in plan.notes:
        out(note)
    model = plan.model
    facts = plan.facts
    manifest = plan.manifest
    if not req.tokenizer_dir.is_dir():
        raise FileNotFoundError(f"{req.tokenizer_dir}: tokenizer directory not found")
    assemble_shared_models(
        req.output,
        req.tokenizer_dir,
        max_batch_size=model.max_batch_size,
        engine_max_seq_len=facts.max_seq_len,
        max_input_len=plan.max_input_len,
        kv_cache_tokens_per_block=facts.tokens_per_block,
        engine=replace(
            TENSORRT_LLM,
            generation_logits=facts.gathers_generation_logits,
            context_logits=facts.gathers_context_logits,
            lookahead=model.lookahead is not None,  # preprocessing refuses guides (guide_check.py)
        ),
        **shared_models_lora(req.lora, facts.lora),
    )
    engine_model_dir = req.output / "engine"
    (engine_model_dir / "1").mkdir(parents=True, exist_ok=True)
    config = model.to_model_config()
    model_config.save(config, engine_model_dir / "config.pbtxt")
    model_config.load(engine_model_dir / "config.pbtxt")  # what we wrote must parse back as a ModelConfig
    link_tree(req.engine_dir, engine_model_dir / "1" / ENGINE_SUBDIR)
    write_tokenizer_info(req.tokenizer_dir, engine_model_dir / "1")
    shared_manifest.write(
        req.output,
        artifact="triton-model-repository",
        path="gpu",
        models=list(MODELS),
        tp=facts.tp,
        pp=facts.pp,
        world_size=facts.tp * facts.pp,
        engine={"backend": "tensorrtllm", **asdict(model)},
        engine_facts=asdict(facts),
        engine_manifest=asdict(manifest) if manifest else None,
        max_input_len=plan.max_input_len,
        tokenizer=str(req.tokenizer_dir),
    )
    return req.output


def describe(req: GpuRepoRequest, plan: RepoPlan) -> str:
    """The dry-run report: what would be written, and the engine config itself."""
    model = plan.model
    facts = plan.facts
    lines = [
        f"# would write the shared models ensemble, preprocessing, postprocessing into {req.output} "
        f"(max_batch_size={model.max_batch_size}, max_seq_len={facts.max_seq_len}, "
        f"max_input_len={plan.max_input_len}, tokenizer {req.tokenizer_dir}; preprocessing "
        f"gather_generation_logits={str(facts.gathers_generation_logits).lower()}, "
        f"gather_context_logits={str(facts.gathers_context_logits).lower()}: the engine gathers "
        f"{facts.gather_logits})",
        *(
            [
                f"# lookahead decoding (W, N, G) = {tuple(model.lookahead.as_list())}: "
                f"{model.lookahead.max_draft_len} draft tokens per step of the engine's {facts.max_draft_len}"
            ]
            if model.lookahead is not None
            else []
        ),
        *describe_lora(req.lora, facts.lora),
        f"# the engine's paths are written for tritonserver seeing {req.output} at {mount_path(req)}",
        f"# would link {req.engine_dir} -> {req.output / 'engine' / '1' / ENGINE_SUBDIR}",
        f"# would write {req.output / 'engine' / '1' / TOKENIZER_INFO} (xgrammar tokenizer info from "
        f"{req.tokenizer_dir})",
        f"# would write {req.output / 'engine' / 'config.pbtxt'}:",
        model_config.dump(model.to_model_config()).rstrip(),
        f"# would write {req.output / 'manifest.json'} (tp={facts.tp}, pp={facts.pp})",
    ]
    return "\n".join(lines)
