"""The manifest written beside every artifact: what it is, what it came from, what built it.

One module for both paths: `write`/`read` for any artifact (ONNX export, model repository), and
`EngineManifest`, the typed record of a TensorRT-LLM engine, which `gpu-repo` reads back to refuse
an engine that cannot load where it is about to serve.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import MISSING, asdict, dataclass, fields
from importlib import metadata
from pathlib import Path

from .trtllm import pins
from .trtllm.recipes import GATHER_LOGITS, GathersLogits

MANIFEST_NAME = "manifest.json"
ENGINE_ARTIFACT = "tensorrt-llm-engine"


def tool_versions(packages: tuple[str, ...]) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write(directory: Path, **fields) -> Path:
    data = {"created_unix": int(time.time()), **fields}
    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read(directory: Path) -> dict:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no {MANIFEST_NAME} (not built by build_engines?)")
    return json.loads(path.read_text())


@dataclass
class EngineManifest(GathersLogits):
    """engine/manifest.json: what was built, from which checkpoint, with which tools, for which GPU."""

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
    # Which logits the engine computes, as trtllm-build recorded it: "none", "generation" (built with
    # --gather_generation_logits), "context" (--gather_context_logits) or "all" (both); recipes.GATHER_FLAGS.
    # A manifest written before this field existed describes an engine built without either flag.
    gather_logits: str = "none"
    # Lookahead decoding sizes [W, N, G] the engine was built for (trtllm/lookahead.py); None: no speculation.
    lookahead: list | None = None

    def save(self, engine_dir: Path) -> Path:
        return write(Path(engine_dir), artifact=ENGINE_ARTIFACT, **asdict(self))

    @classmethod
    def load(cls, engine_dir: Path) -> EngineManifest:
        data = read(Path(engine_dir))
        if data.get("artifact") != ENGINE_ARTIFACT:
            raise ValueError(
                f"{engine_dir}: manifest.json is not a TensorRT-LLM engine manifest "
                f"(artifact={data.get('artifact')!r})"
            )
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        missing = required - data.keys()
        if missing:
            raise ValueError(f"{engine_dir}: engine manifest lacks {sorted(missing)}")
        manifest = cls(**{k: v for k, v in data.items() if k in names})
        if manifest.gather_logits not in GATHER_LOGITS:
            raise ValueError(
                f"{engine_dir}: engine manifest has gather_logits={manifest.gather_logits!r}; "
                f"expected one of {', '.join(GATHER_LOGITS)}"
            )
        return manifest

    def check_runtime(self, *, gpu_sm: int | None, trtllm_version: str | None) -> None:
        """Refuse an engine that the target GPU / TensorRT-LLM cannot load (None: unknown, not checked)."""
        if self.trtllm_version is not None and not self.trtllm_version.startswith(pins.TRTLLM_SERIES):
            raise ValueError(
                f"engine was built with TensorRT-LLM {self.trtllm_version}; "
                f"this project serves {pins.TRTLLM_SERIES}x engines only ({pins.NGC_IMAGE})"
            )
        if (
            trtllm_version is not None
            and self.trtllm_version is not None
            and trtllm_version != self.trtllm_version
        ):
            raise ValueError(
                f"engine was built with TensorRT-LLM {self.trtllm_version} but the serving "
                f"TensorRT-LLM is {trtllm_version}; rebuild the engine with the serving version"
            )
        if gpu_sm is not None and self.gpu_sm is not None and gpu_sm != self.gpu_sm:
            raise ValueError(
                f"engine was built for SM {self.gpu_sm} ({self.gpu_name}) but the serving GPU "
                f"is SM {gpu_sm}; TensorRT engines are specific to the GPU architecture, rebuild it"
            )
