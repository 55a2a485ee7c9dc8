"""TorchLlmArgs → the CPU engine the stand-in runs: where the model is, its limits, what is refused.

The real LLM(model=<HF checkpoint dir>) loads the checkpoint's safetensors onto GPUs. The stand-in
runs the project's CPU engine (python_backend/engine) over the ONNX export found at <model>/onnx
(the emulated repository's assembly links the export there, beside the checkpoint it was made
from). Limits map onto the engine's where it has them:
  max_batch_size (None → 2048)      at most this many sequences decode together (engine slots)
  kv_cache_config.max_tokens        the KV pool: slots = min(max_batch_size, max_tokens // max_seq_len)
                                    (a slot holds one max_seq_len sequence); None → the CPU engine's
                                    default pool of EngineConfig().max_num_seqs sequences, since there
                                    is no GPU memory to take free_gpu_memory_fraction of
  max_seq_len (None → the model's)  the engine's max_seq_len; the model's is the HF config's
                                    max_position_embeddings, as upstream derives it
  max_num_tokens (8192)             tokens one engine step computes (max_num_batched_tokens)
  kv_cache_config.enable_block_reuse  the engine's prefix caching
  speculative_config NGram          the engine's prompt-lookup drafter (max_draft_len,
                                    max_matching_ngram_size)
  lora_config                       the engine's adapter slots (max_loras, max_lora_rank) over a
                                    LoRA-capable export (lora.py)
Knobs that only tune GPU execution (CUDA graphs, attention backend, TP/PP sizes, MoE, compile,
overlap scheduler, ...) are accepted and change nothing here; arguments whose behaviour the stand-in
cannot reproduce are refused by name (refuse()).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from python_backend.contract import tokenizer_info
from python_backend.contract.limits import MAX_DRAFT_LEN
from python_backend.engine.config import EngineConfig
from python_backend.engine.runner import ExportShape
from python_backend.text.tokenizer import generation_end_ids, load_tokenizer

from . import config_models as cm
from . import lora

ONNX_SUBDIR = "onnx"
# The engine's queue: the executor has no bound of its own, so one the stand-in will not reach in tests.
QUEUE_BOUND = 1 << 16
REFUSED = "LLM({name}={value!r}): not supported by the CPU stand-in of the LLM API ({why})"


def refuse(args) -> None:
    """Raise ValueError naming the first argument whose behaviour the stand-in cannot reproduce."""
    checks = [
        ("backend", args.backend != "pytorch", "it stands in for the PyTorch backend"),
        ("mpi_session", args.mpi_session is not None, "it runs in one process"),
        ("load_format", args.load_format != "AUTO", "it serves the checkpoint's own weights"),
        ("max_beam_width", args.max_beam_width != 1, "the CPU engine has no beam search"),
        ("batched_logits_processor", args.batched_logits_processor is not None, "no logits processors"),
        ("checkpoint_loader", args.checkpoint_loader is not None, "it loads the ONNX export"),
        ("kv_connector_config", args.kv_connector_config is not None, "no KV connector"),
        ("mm_encoder_only", args.mm_encoder_only, "the model is a text decoder"),
        ("guided_decoding_backend", args.guided_decoding_backend == "llguidance", "it guides with xgrammar"),
        ("cache_transceiver_config", args.cache_transceiver_config is not None, "no disaggregated serving"),
        ("sparse_attention_config", args.sparse_attention_config is not None, "dense attention only"),
    ]
    spec = args.speculative_config
    if spec is not None and not isinstance(spec, cm.NGramDecodingConfig):
        checks.append(("speculative_config", True, "only NGram drafting runs on the CPU engine"))
    for name, bad, why in checks:
        if bad:
            raise ValueError(REFUSED.format(name=name, value=getattr(args, name), why=why))


def onnx_dir(model: str) -> Path:
    path = Path(model) / ONNX_SUBDIR
    if not (path / "genai_config.json").is_file():
        raise ValueError(
            f"LLM(model={model!r}): no ONNX export at {path} (the CPU stand-in of the LLM API runs the "
            "export the emulated repository links beside the checkpoint)"
        )
    return path


def model_max_seq_len(model: str, shape: ExportShape) -> int:
    config = Path(model) / "config.json"
    if config.is_file():
        positions = json.loads(config.read_text()).get("max_position_embeddings")
        if positions:
            return int(positions)
    return shape.context_length


def engine_config(args, shape: ExportShape, model: str) -> EngineConfig:
    max_seq_len = args.max_seq_len or model_max_seq_len(model, shape)
    kv = args.kv_cache_config
    pool = kv.max_tokens if kv.max_tokens is not None else EngineConfig().max_num_seqs * max_seq_len
    slots = max(1, min(args.max_batch_size, pool // max_seq_len))
    spec = args.speculative_config
    draft = {}
    if spec is not None:
        if not spec.max_draft_len or not spec.max_matching_ngram_size:
            # TorchLlmArgs asserts both for NGram (docs/upstream/trtllm-llm-api.md c)
            raise ValueError(
                "NGram speculative decoding needs max_draft_len > 0 and max_matching_ngram_size > 0"
            )
        draft = {
            "speculative_draft_len": spec.max_draft_len,
            "speculative_ngram": spec.max_matching_ngram_size,
            "speculative_max_batch": spec.max_concurrency or slots,
        }
    if spec is not None and spec.max_draft_len > MAX_DRAFT_LEN:
        raise ValueError(
            REFUSED.format(
                name="speculative_config.max_draft_len",
                value=spec.max_draft_len,
                why=f"the CPU engine's drafter proposes at most {MAX_DRAFT_LEN} tokens",
            )
        )
    return EngineConfig(
        max_num_seqs=slots,
        max_num_batched_tokens=max(args.max_num_tokens or 8192, slots),
        max_seq_len=max_seq_len,
        max_queue_size=QUEUE_BOUND,
        prefix_caching=kv.enable_block_reuse,
        **draft,
        **lora.engine_limits(args),
    )


def tokenizer_for(args):
    """The tokenizer upstream loads unless skip_tokenizer_init (from `tokenizer` or the model dir)."""
    if args.skip_tokenizer_init:
        return None
    return load_tokenizer(args.tokenizer or args.model, args.trust_remote_code)


def guide_info(args, tokenizer) -> tuple[Path | None, tempfile.TemporaryDirectory | None]:
    """With guided_decoding_backend xgrammar: the tokenizer-info file the engine's xgrammar reads,
    made from the checkpoint's tokenizer with every end id of its generation config."""
    if args.guided_decoding_backend is None:
        return None, None
    source = tokenizer or load_tokenizer(args.tokenizer or args.model, args.trust_remote_code)
    scratch = tempfile.TemporaryDirectory(prefix="llmapi-stand-in-")
    ends = generation_end_ids(args.tokenizer or args.model, source)
    return tokenizer_info.write(Path(scratch.name), source, ends), scratch
