"""The models both repositories share: ensemble, preprocessing and postprocessing, from `model_repository/`.

Every config is read as Triton's ModelConfig protobuf, changed field by field and written back
(see model_config.py). Python-backend models get their code (`python_backend/`) and the
tokenizer copied into their version directory, so the repository is self-contained: it runs on
the bundled tritonserver here and on a stock NGC Triton container. Each path adds its own `engine`
model beside these: onnx/repository.py (CPU) and trtllm/repository.py (GPU).
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

from python_backend.text import tokenizer_classes
from python_backend.triton_io.model_configs import PostprocessingConfig, PreprocessingConfig
from python_backend.triton_io.preprocess import TENSORRT_LLM, EngineTraits

from . import model_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = PROJECT_ROOT / "model_repository"
PYTHON_BACKEND = PROJECT_ROOT / "python_backend"
SHARED_MODELS = ("ensemble", "preprocessing", "postprocessing")
# The engine step's lora inputs the ensemble template wires from preprocessing (lora_inputs.py).
LORA_ENGINE_INPUTS = ("lora_name", "lora_task_id", "lora_weights", "lora_config")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
    # the model's vocab_size, which sizes embedding_bias (text/tokenizer.py model_vocab_size)
    "config.json",
    "genai_config.json",
)


def _copy_code(version_dir: Path) -> None:
    target = version_dir / "python_backend"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PYTHON_BACKEND, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _copy_tokenizer(tokenizer_dir: Path, target: Path) -> None:
    """The tokenizer files, and the class they load as (text/tokenizer_classes.py RESOLVED_FILE), so a
    model load does not ask AutoTokenizer again."""
    target.mkdir(parents=True, exist_ok=True)
    found = [name for name in TOKENIZER_FILES if (tokenizer_dir / name).is_file()]
    if not any(name in found for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise FileNotFoundError(
            f"{tokenizer_dir}: no tokenizer files (tokenizer.json, tokenizer.model or vocab.json)"
        )
    for name in found:
        shutil.copy2(tokenizer_dir / name, target / name)
    record_tokenizer_class(tokenizer_dir, target)


def record_tokenizer_class(tokenizer_dir: Path, target: Path) -> None:
    """Write into `target` the class `tokenizer_dir`'s tokenizer loads as (text/tokenizer_classes.py
    RESOLVED_FILE); nothing for a class that is not transformers' own."""
    record = tokenizer_classes.resolution(_loaded_tokenizer(*_tokenizer_key(tokenizer_dir)))
    if record is not None:
        (target / tokenizer_classes.RESOLVED_FILE).write_text(json.dumps(record), encoding="utf-8")


def model_from_template(name: str, output_dir: Path) -> tuple[model_config.ModelConfig, Path]:
    """Copy template model `name`'s code into output_dir; return its config (to change, then save) and dir."""
    source = TEMPLATES / name
    target = output_dir / name
    version_dir = target / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    if (source / "1" / "model.py").is_file():
        shutil.copy2(source / "1" / "model.py", version_dir / "model.py")
        _copy_code(version_dir)
    return model_config.load_template(source / "config.pbtxt"), target


def assemble_shared_models(
    output_dir: Path,
    tokenizer_dir: Path,
    *,
    max_batch_size: int,
    engine_max_seq_len: int,
    max_input_len: int | None = None,
    forward_cancellation: str = "engine_stop",
    kv_cache_tokens_per_block: int = 1,
    engine: EngineTraits = TENSORRT_LLM,
    lora_dir: str = "",
    lora_format: str = "name",
    lora_engine_inputs: tuple[str, ...] = (),
) -> None:
    """Write ensemble, preprocessing and postprocessing (configs, code, tokenizer) into output_dir.

    max_batch_size is set on all three (and must equal the engine's: Triton refuses an ensemble
    whose steps batch differently); engine_max_seq_len is the context limit preprocessing enforces.
    max_input_len is the longest prompt the engine accepts, which preprocessing refuses beyond; None
    leaves preprocessing's own default, engine_max_seq_len - 1 (our CPU engine takes any prompt that
    leaves room for one token; the GPU engine's limit can be lower, see trtllm/repository.py).

    forward_cancellation: how postprocessing tells the engine that a stream's client left (Triton's
    ensemble does not cancel its running `engine` step, it cancels the postprocessing requests
    that follow): "cancel_channel" for our CPU engine, "engine_stop" (a `stop` request by request
    id) for TensorRT-LLM, "none". See model_repository/postprocessing/1/model.py.

    kv_cache_tokens_per_block: the engine's KV block size, which turns its kv_cache_reused_blocks into
    the ensemble's cached_tokens: 1 for our CPU engine (token-granular prefix reuse), the engine's
    tokens_per_block for TensorRT-LLM.

    engine: what the engine needs and can return, written as preprocessing's parameters
    (python_backend/triton_io/preprocess.EngineTraits): TensorRT-LLM needs return_perf_metrics on
    every request (it writes arrival_time_ns, postprocessing's key, only then) and returns only the
    logits it was built to gather (trtllm/recipes.py GATHER_FLAGS); our CPU engine neither needs the
    flag nor lacks any logits (preprocess.CPU_ENGINE).

    lora_dir, lora_format: preprocessing's LoRA parameters (the adapter directory as the server sees
    it, "" = LoRA off; python_backend/triton_io/lora_inputs.py). lora_engine_inputs: the engine's lora
    inputs the ensemble feeds (of LORA_ENGINE_INPUTS); the template wires all four, and an engine that
    does not declare one would fail to load, so the others are unwired here (at both ends).
    """
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if engine_max_seq_len < 2:
        raise ValueError(f"engine_max_seq_len must be >= 2, got {engine_max_seq_len}")
    if max_input_len is not None and not 1 <= max_input_len < engine_max_seq_len:
        raise ValueError(
            f"max_input_len must be in [1, engine_max_seq_len {engine_max_seq_len}), got {max_input_len}"
        )
    # Every parameter of the two, the limits at their defaults (contract/limits.py); built before
    # anything is written, so a bad value (forward_cancellation, a block size < 1) refuses the build.
    codecs = {
        "preprocessing": PreprocessingConfig(
            max_seq_len=engine_max_seq_len,
            max_input_len=max_input_len,
            engine=engine,
            lora_dir=lora_dir,
            lora_format=lora_format,
        ),
        "postprocessing": PostprocessingConfig(
            kv_cache_tokens_per_block=kv_cache_tokens_per_block, forward_cancellation=forward_cancellation
        ),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in SHARED_MODELS:
        config, target = model_from_template(name, output_dir)
        config.max_batch_size = max_batch_size
        codec = codecs.get(name)
        if codec is not None:
            for key, value in codec.parameters().items():
                model_config.set_parameter(config, key, value)
            _copy_tokenizer(tokenizer_dir, target / "1" / codec.tokenizer_dir)
        if name == "ensemble":
            unwire_lora(config, lora_engine_inputs)
        model_config.save(config, target / "config.pbtxt")


def unwire_lora(ensemble: model_config.ModelConfig, kept: tuple[str, ...]) -> None:
    """Drop the ensemble's engine-step lora inputs not in `kept`, and preprocessing's outputs feeding them."""
    unknown = set(kept) - set(LORA_ENGINE_INPUTS)
    if unknown:
        raise ValueError(f"lora_engine_inputs: {sorted(unknown)} are not among {LORA_ENGINE_INPUTS}")
    dropped = [name for name in LORA_ENGINE_INPUTS if name not in kept]
    for step in ensemble.ensemble_scheduling.step:
        for name in dropped:
            if step.model_name == "engine":
                del step.input_map[name]
            elif step.model_name == "preprocessing":
                del step.output_map[f"out_{name}"]


def write_tokenizer_info(tokenizer_dir: Path, target_dir: Path) -> Path:
    """The xgrammar tokenizer-info file both engines read for guided decoding (TensorRT-LLM's format,
    python_backend/contract/tokenizer_info.py), with every end id of generation_config.json as a
    stop token: the engines end a sequence on each, so a grammar may end on each."""
    from python_backend.contract import tokenizer_info

    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / tokenizer_info.FILE_NAME
    path.write_text(_tokenizer_info_json(*_tokenizer_key(tokenizer_dir)), encoding="utf-8")
    return path


def _tokenizer_key(tokenizer_dir: Path) -> tuple[str, tuple]:
    """The cache key of a tokenizer directory: its path and its files' names and mtimes."""
    files = tuple(
        (p.name, p.stat().st_mtime_ns) for p in sorted(Path(tokenizer_dir).iterdir()) if p.is_file()
    )
    return str(Path(tokenizer_dir).resolve()), files


@functools.lru_cache(maxsize=4)
def _loaded_tokenizer(tokenizer_dir: str, _files: tuple):
    """Loading a tokenizer takes seconds; one build reads the same directory for several models
    (and the test suite for many repositories). `_files` (names, mtimes) keys the cache. Loaded as
    if without a class record, which is what the assembly writes from it."""
    return tokenizer_classes.from_directory(Path(tokenizer_dir), use_record=False)


@functools.lru_cache(maxsize=4)
def _tokenizer_info_json(tokenizer_dir: str, files: tuple) -> str:
    from python_backend.contract import tokenizer_info
    from python_backend.text.tokenizer import generation_end_ids

    tokenizer = _loaded_tokenizer(tokenizer_dir, files)
    info = tokenizer_info.from_tokenizer(tokenizer, generation_end_ids(tokenizer_dir, tokenizer))
    return json.dumps(info, ensure_ascii=False)


def link_tree(source: Path, target: Path) -> None:
    """Hard-link the (large) model files, ONNX or engine, when on one filesystem; copy otherwise."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in sorted(source.iterdir()):
        if file.is_file():
            try:
                (target / file.name).hardlink_to(file)
            except OSError:
                shutil.copy2(file, target / file.name)
