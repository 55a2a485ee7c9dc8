"""What a built engine can do, read from the engine directory before a repository is planned for it.

trtllm-build's config.json is the engine's own record and wins; our manifest.json fills what it
leaves out (the lookahead sizes) and stands in for it on an engine built without trtllm-build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract.perf_metrics import TOKENS_PER_BLOCK

from ..manifest import EngineManifest
from .lookahead import LOOKAHEAD, NO_SPECULATION, Lookahead
from .lora import EngineLora
from .recipes import GathersLogits, gather_logits_name, gathers


@dataclass(frozen=True, kw_only=True)
class EngineFacts(GathersLogits):
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
    # KV-cache block size: the backend reports prefix reuse in blocks (kv_cache_reused_blocks).
    tokens_per_block: int = TOKENS_PER_BLOCK
    # Logits the engine computes (recipes.GATHER_FLAGS): the backend returns generation_logits /
    # context_logits only for an engine built to gather them, so preprocessing refuses the others.
    gather_logits: str = "none"
    # Speculative decoding the engine was built for (lookahead.py): config.json's mode and draft
    # length, and from our manifest the lookahead sizes it was built for (None: not recorded).
    speculative_decoding_mode: int = NO_SPECULATION
    max_draft_len: int = 0
    lookahead: list | None = None
    lora: EngineLora | None = None  # built with the LoRA plugin (lora.py); None: without

    @classmethod
    def from_engine_dir(cls, engine_dir: Path, manifest: EngineManifest | None) -> EngineFacts:
        config_path = engine_dir / "config.json"
        if config_path.is_file():
            return cls.from_build_config(config_path, manifest)
        if manifest is None:
            raise FileNotFoundError(f"{engine_dir}: neither config.json (trtllm-build) nor manifest.json")
        built = Lookahead(*manifest.lookahead) if manifest.lookahead else None
        return cls(
            max_batch_size=manifest.max_batch_size,
            max_input_len=manifest.max_input_len,
            max_seq_len=manifest.max_seq_len,
            max_num_tokens=manifest.max_num_tokens,
            max_beam_width=1,
            use_paged_context_fmha=manifest.use_paged_context_fmha,
            tp=manifest.tp,
            pp=manifest.pp,
            source=str(engine_dir / "manifest.json"),
            gather_logits=manifest.gather_logits,
            speculative_decoding_mode=LOOKAHEAD if built else NO_SPECULATION,
            max_draft_len=built.max_draft_len if built else 0,
            lookahead=manifest.lookahead,
        )

    @classmethod
    def from_build_config(cls, config_path: Path, manifest: EngineManifest | None) -> EngineFacts:
        """trtllm-build's own record of the engine (config.json) wins over what we asked for."""
        config = json.loads(config_path.read_text())
        build = config.get("build_config", {})
        mapping = config.get("pretrained_config", {}).get("mapping", {})
        plugins = build.get("plugin_config", {})
        # BuildConfig's gather_*_logits, the keys the C++ runtime reads into ModelConfig
        # (computeContextLogits / computeGenerationLogits); our manifest where they are absent.
        recorded = manifest.gather_logits if manifest is not None else "none"
        recorded_generation, recorded_context = gathers(recorded)
        generation = build.get("gather_generation_logits", recorded_generation)
        context = build.get("gather_context_logits", recorded_context)
        draft = int(build.get("max_draft_len", 0))
        mode = int(build.get("speculative_decoding_mode", NO_SPECULATION))
        # trtllm-build adds max_draft_len to max_seq_len for a speculative engine; what requests
        # may use (prompt + generated tokens) is the length asked for at build.
        max_seq_len = int(build["max_seq_len"]) - (draft if mode != NO_SPECULATION else 0)
        return cls(
            max_batch_size=int(build["max_batch_size"]),
            max_input_len=int(build["max_input_len"]),
            max_seq_len=max_seq_len,
            max_num_tokens=int(build["max_num_tokens"]),
            max_beam_width=int(build.get("max_beam_width", 1)),
            use_paged_context_fmha=bool(plugins.get("use_paged_context_fmha", False)),
            tp=int(mapping.get("tp_size", 1)),
            pp=int(mapping.get("pp_size", 1)),
            source=str(config_path),
            tokens_per_block=int(plugins.get("tokens_per_block", TOKENS_PER_BLOCK)),
            gather_logits=gather_logits_name(bool(generation), bool(context)),
            speculative_decoding_mode=mode,
            max_draft_len=draft,
            lookahead=manifest.lookahead if manifest is not None else None,
            lora=EngineLora.from_build_config(build),
        )

    def lookahead_sizes(self, asked: Lookahead | None) -> Lookahead | None:
        """The sizes to run: those asked for, else those the engine was built for (its manifest)."""
        if asked is not None or not self.lookahead:
            return asked
        return Lookahead(*self.lookahead)


def resolve_engine_dir(path: Path) -> Path:
    """Accept the `engine --output` directory as well as its engine/ subdirectory."""
    if (
        not (path / "config.json").is_file()
        and not (path / "manifest.json").is_file()
        and (path / "engine").is_dir()
    ):
        return path / "engine"
    return path
