"""`gpu-repo`: the shared ensemble/preprocessing/postprocessing + a `tensorrtllm` `engine` model.

Before anything is written, the request is checked against the engine it will serve (its
config.json from trtllm-build, and our manifest.json) and against the GPU/TensorRT-LLM it will
run on; every refusal names the values that disagree.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import assemble, model_config
from .. import manifest as shared_manifest
from . import environment
from .engine_config import TrtllmEngineModel
from .manifest import EngineManifest

ENGINE_SUBDIR = "trtllm_engine"  # engine files inside engine/1/
MODELS = ("ensemble", "preprocessing", "engine", "postprocessing")


@dataclass(frozen=True)
class EngineFacts:
    """What the engine was built for: these bound what the Triton config may ask of it."""
    max_batch_size: int
    max_input_len: int
    max_seq_len: int
    max_num_tokens: int
    max_beam_width: int
    use_paged_context_fmha: bool
    tp: int
    pp: int
    source: str

    @classmethod
    def from_engine_dir(cls, engine_dir: Path, manifest: EngineManifest | None) -> EngineFacts:
        config_path = engine_dir / "config.json"
        if config_path.is_file():
            # trtllm-build's own record of the engine wins over what we asked for.
            config = json.loads(config_path.read_text())
            build = config.get("build_config", {})
            mapping = config.get("pretrained_config", {}).get("mapping", {})
            return cls(int(build["max_batch_size"]), int(build["max_input_len"]), int(build["max_seq_len"]),
                       int(build["max_num_tokens"]), int(build.get("max_beam_width", 1)),
                       bool(build.get("plugin_config", {}).get("use_paged_context_fmha", False)),
                       int(mapping.get("tp_size", 1)), int(mapping.get("pp_size", 1)), str(config_path))
        if manifest is None:
            raise FileNotFoundError(f"{engine_dir}: neither config.json (trtllm-build) nor manifest.json")
        return cls(manifest.max_batch_size, manifest.max_input_len, manifest.max_seq_len, manifest.max_num_tokens,
                   1, manifest.use_paged_context_fmha, manifest.tp, manifest.pp, str(engine_dir / "manifest.json"))


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
    enable_kv_cache_reuse: bool = True
    enable_chunked_context: bool = True
    batch_scheduler_policy: str = "guaranteed_no_evict"
    exclude_input_in_output: bool = True
    max_beam_width: int = 1
    decoupled: bool = True
    streaming: bool = True  # clients will stream tokens (needs decoupled mode)
    max_prompt_len: int | None = None  # default: the engine's max_input_len
    max_tokens: int | None = None  # largest max_tokens served; default: max_seq_len - max_prompt_len
    cancellation_check_period_ms: int = 100
    stats_check_period_ms: int = 100
    repo_mount_path: str | None = None  # where tritonserver will see `output` (e.g. inside a container)
    target_sm: int | None = None  # default: this machine's GPU 0, when it has one
    target_trtllm_version: str | None = None  # default: this machine's tensorrt_llm, when installed

    def __post_init__(self) -> None:
        self.engine_dir = resolve_engine_dir(Path(self.engine_dir))
        self.tokenizer_dir = Path(self.tokenizer_dir)
        self.output = Path(self.output)


def resolve_engine_dir(path: Path) -> Path:
    """Accept the `engine --output` directory as well as its engine/ subdirectory."""
    if not (path / "config.json").is_file() and not (path / "manifest.json").is_file() and (path / "engine").is_dir():
        return path / "engine"
    return path


def cross_check(req: GpuRepoRequest, facts: EngineFacts) -> tuple[int, int, int]:
    """Refuse combinations that cannot work; return (triton max batch, max prompt, max tokens)."""
    batch = req.triton_max_batch_size or facts.max_batch_size
    if batch > facts.max_batch_size:
        raise ValueError(f"Triton max_batch_size {batch} is above the engine's max_batch_size "
                         f"{facts.max_batch_size} ({facts.source}); lower it or rebuild the engine")
    if req.streaming and not req.decoupled:
        raise ValueError("streaming needs decoupled mode (model_transaction_policy { decoupled: true }); "
                         "got streaming=true with decoupled=false")
    if not facts.use_paged_context_fmha:
        for name in ("enable_kv_cache_reuse", "enable_chunked_context"):
            if getattr(req, name):
                raise ValueError(f"{name}=true needs an engine built with --use_paged_context_fmha enable, "
                                 f"but {facts.source} has use_paged_context_fmha=false; rebuild the engine "
                                 f"or set {name}=false")
    if req.max_beam_width > facts.max_beam_width:
        raise ValueError(f"max_beam_width {req.max_beam_width} is above the engine's max_beam_width "
                         f"{facts.max_beam_width}")
    prompt = req.max_prompt_len or facts.max_input_len
    if prompt > facts.max_input_len:
        raise ValueError(f"max_prompt_len {prompt} is above the engine's max_input_len {facts.max_input_len}")
    max_tokens = req.max_tokens if req.max_tokens is not None else facts.max_seq_len - prompt
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if prompt + max_tokens > facts.max_seq_len:
        raise ValueError(f"max_tokens {max_tokens} + prompt {prompt} = {prompt + max_tokens} tokens is beyond "
                         f"the engine's max_seq_len {facts.max_seq_len}")
    if prompt > facts.max_num_tokens and not req.enable_chunked_context:
        raise ValueError(f"a {prompt}-token prompt is above the engine's max_num_tokens {facts.max_num_tokens} "
                         "per iteration; enable_chunked_context=true is needed to serve it")
    return batch, prompt, max_tokens


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link engine files (several GB) when on one filesystem; copy otherwise."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in sorted(source.iterdir()):
        if file.is_file():
            try:
                (target / file.name).hardlink_to(file)
            except OSError:
                shutil.copy2(file, target / file.name)


def plan_repo(req: GpuRepoRequest, *, env: environment.GpuEnvironment | None = None,
              planned: EngineFacts | None = None) -> tuple[TrtllmEngineModel, EngineFacts, EngineManifest | None]:
    """Validate everything and return the engine model to write (nothing is written)."""
    try:
        manifest = EngineManifest.load(req.engine_dir)
    except FileNotFoundError:
        if planned is None:
            raise FileNotFoundError(f"{req.engine_dir}: no manifest.json; build the engine with "
                                    "`python -m build_engines engine` first") from None
        manifest = None
    facts = planned if manifest is None else EngineFacts.from_engine_dir(req.engine_dir, manifest)
    if manifest is not None:
        env = environment.detect() if env is None else env
        sm = req.target_sm if req.target_sm is not None else (env.gpus[0].sm if env.gpus else None)
        version = req.target_trtllm_version or env.trtllm_version
        manifest.check_runtime(gpu_sm=sm, trtllm_version=version)
    batch, _, _ = cross_check(req, facts)
    mount = req.repo_mount_path or str(req.output.resolve())
    model = TrtllmEngineModel(
        engine_path=f"{mount.rstrip('/')}/engine/1/{ENGINE_SUBDIR}",
        max_batch_size=batch, decoupled=req.decoupled, max_queue_size=req.max_queue_size,
        max_queue_delay_microseconds=req.max_queue_delay_microseconds, max_beam_width=req.max_beam_width,
        batch_scheduler_policy=req.batch_scheduler_policy,
        kv_cache_free_gpu_mem_fraction=req.kv_cache_free_gpu_mem_fraction,
        max_tokens_in_paged_kv_cache=req.max_tokens_in_paged_kv_cache,
        enable_kv_cache_reuse=req.enable_kv_cache_reuse, enable_chunked_context=req.enable_chunked_context,
        exclude_input_in_output=req.exclude_input_in_output,
        cancellation_check_period_ms=req.cancellation_check_period_ms,
        stats_check_period_ms=req.stats_check_period_ms)
    return model, facts, manifest


def assemble_gpu(req: GpuRepoRequest, *, env: environment.GpuEnvironment | None = None) -> Path:
    model, facts, manifest = plan_repo(req, env=env)
    if not req.tokenizer_dir.is_dir():
        raise FileNotFoundError(f"{req.tokenizer_dir}: tokenizer directory not found")
    assemble.assemble_shared_models(req.output, req.tokenizer_dir, max_batch_size=model.max_batch_size,
                                    engine_max_seq_len=facts.max_seq_len)
    engine_model_dir = req.output / "engine"
    (engine_model_dir / "1").mkdir(parents=True, exist_ok=True)
    config = model.to_model_config()
    model_config.save(config, engine_model_dir / "config.pbtxt")
    model_config.load(engine_model_dir / "config.pbtxt")  # what we wrote must parse back as a ModelConfig
    _link_tree(req.engine_dir, engine_model_dir / "1" / ENGINE_SUBDIR)
    shared_manifest.write(
        req.output, artifact="triton-model-repository", path="gpu", models=list(MODELS),
        tp=facts.tp, pp=facts.pp, world_size=facts.tp * facts.pp,
        engine={"backend": "tensorrtllm", **asdict(model)},
        engine_facts=asdict(facts), engine_manifest=asdict(manifest) if manifest else None,
        tokenizer=str(req.tokenizer_dir))
    return req.output


def describe(req: GpuRepoRequest, model: TrtllmEngineModel, facts: EngineFacts) -> str:
    """The dry-run report: what would be written, and the engine config itself."""
    lines = [f"# would write the shared models ensemble, preprocessing, postprocessing into {req.output} "
             f"(max_batch_size={model.max_batch_size}, max_seq_len={facts.max_seq_len}, "
             f"tokenizer {req.tokenizer_dir})",
             f"# would link {req.engine_dir} -> {req.output / 'engine' / '1' / ENGINE_SUBDIR}",
             f"# would write {req.output / 'engine' / 'config.pbtxt'}:",
             model_config.dump(model.to_model_config()).rstrip(),
             f"# would write {req.output / 'manifest.json'} (tp={facts.tp}, pp={facts.pp})"]
    return "\n".join(lines)
