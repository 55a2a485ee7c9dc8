"""The engine manifest: what was built, from which checkpoint, with which tools, for which GPU.

Written beside the engine files (engine/manifest.json) through the project's shared manifest
module; `gpu-repo` reads it back to refuse an engine that cannot load where it is about to serve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .. import manifest as shared_manifest
from ..checkpoint import checkpoint_hash as _shared_checkpoint_hash
from . import pins

ARTIFACT = "tensorrt-llm-engine"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def checkpoint_hash(checkpoint: Path) -> str:
    """sha256 over config.json and every weight file; refuses a directory without them."""
    checkpoint = Path(checkpoint)
    config = checkpoint / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{checkpoint}: no config.json (not a Hugging Face checkpoint directory)")
    weights = sorted(p for p in checkpoint.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not weights:
        raise FileNotFoundError(f"{checkpoint}: no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    return _shared_checkpoint_hash(checkpoint)  # the same hash the CPU artifacts record


@dataclass
class EngineManifest:
    precision: str
    dtype: str
    tp: int
    pp: int
    max_batch_size: int
    max_input_len: int
    max_seq_len: int
    max_num_tokens: int
    use_paged_context_fmha: bool
    kv_cache_type: str
    build_flags: dict
    commands: list
    checkpoint: str
    checkpoint_sha256: str
    trtllm_version: str | None
    tensorrt_version: str | None
    gpu_name: str | None
    gpu_sm: int | None

    def save(self, engine_dir: Path) -> Path:
        return shared_manifest.write(Path(engine_dir), artifact=ARTIFACT, **asdict(self))

    @classmethod
    def load(cls, engine_dir: Path) -> EngineManifest:
        data = shared_manifest.read(Path(engine_dir))
        if data.get("artifact") != ARTIFACT:
            raise ValueError(f"{engine_dir}: manifest.json is not a TensorRT-LLM engine manifest "
                             f"(artifact={data.get('artifact')!r})")
        names = {f.name for f in fields(cls)}
        missing = names - data.keys()
        if missing:
            raise ValueError(f"{engine_dir}: engine manifest lacks {sorted(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def check_runtime(self, *, gpu_sm: int | None, trtllm_version: str | None) -> None:
        """Refuse an engine that the target GPU / TensorRT-LLM cannot load (None: unknown, not checked)."""
        if self.trtllm_version is not None and not self.trtllm_version.startswith(pins.TRTLLM_SERIES):
            raise ValueError(f"engine was built with TensorRT-LLM {self.trtllm_version}; "
                             f"this project serves {pins.TRTLLM_SERIES}x engines only ({pins.NGC_IMAGE})")
        if trtllm_version is not None and self.trtllm_version is not None and trtllm_version != self.trtllm_version:
            raise ValueError(f"engine was built with TensorRT-LLM {self.trtllm_version} but the serving "
                             f"TensorRT-LLM is {trtllm_version}; rebuild the engine with the serving version")
        if gpu_sm is not None and self.gpu_sm is not None and gpu_sm != self.gpu_sm:
            raise ValueError(f"engine was built for SM {self.gpu_sm} ({self.gpu_name}) but the serving GPU "
                             f"is SM {gpu_sm}; TensorRT engines are specific to the GPU architecture, rebuild it")
