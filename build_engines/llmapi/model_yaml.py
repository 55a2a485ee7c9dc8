"""engine/1/model.yaml: the LLM's arguments in upstream's format, each key held to the 1.2.1 extract.

Upstream's llmapi model (NVIDIA/TensorRT-LLM triton_backend/all_models/llmapi/tensorrt_llm/1/model.yaml
@c8c6df08, read by model.py @b35ac1b) passes every top-level key but `triton_config` to `LLM(**kwargs)`,
and `update_llm_args_with_extra_dict` turns `kv_cache_config` into KvCacheConfig(**d) and
`speculative_config` into DecodingBaseConfig.from_dict(d) (by its `decoding_type`); `cuda_graph_config`
is validated by pydantic into CudaGraphConfig. Every class forbids unknown keys, so a key that is not a
field at the pinned version fails the model's load on the GPU: check() refuses it here, at assembly.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from python_backend.contract import llmapi_fields

from .settings import LlmApiSettings
from .speculative import KINDS

TOP_LEVEL = "TorchLlmArgs"
NESTED = {
    "kv_cache_config": "KvCacheConfig",
    "cuda_graph_config": "CudaGraphConfig",
    "lora_config": "LoraConfig",  # update_llm_args_with_extra_dict: LoraConfig(**d)
}
# upstream's own model.yaml: the file's format and its `triton_config` block
UPSTREAM_MODEL_YAML = (
    "NVIDIA/TensorRT-LLM",
    "triton_backend/all_models/llmapi/tensorrt_llm/1/model.yaml",
    "c8c6df08bd0ead54cd47f7973e1e425c28a174cd",
)
TRITON_CONFIG = "triton_config"  # read by the Triton model, not passed to LLM(); not written by us
# speculative_config's decoding_type is no field: DecodingBaseConfig.from_dict dispatches on it.
DECODING_TYPE = "DecodingBaseConfig"


def _speculative_class(mapping: dict) -> str:
    decoding_type = mapping.get("decoding_type")
    allowed = llmapi_fields.class_facts("DecodingBaseConfig")["from_dict_decoding_types"]
    if decoding_type not in allowed or decoding_type not in KINDS:
        raise ValueError(
            f"speculative_config.decoding_type {decoding_type!r}: the PyTorch path runs "
            f"{', '.join(KINDS)} (1.2.1's from_dict knows {', '.join(allowed)})"
        )
    return KINDS[decoding_type].extract_class


def sources(mapping: dict) -> list[tuple[str, str]]:
    """(dotted key, the 1.2.1 class it is a field of) for every key of a model.yaml mapping; ValueError
    names each key that is not a field of its class at the pinned version."""
    out = []
    problems = []
    for key, value in mapping.items():
        if key == TRITON_CONFIG:
            continue
        out.append((key, TOP_LEVEL))
        if not llmapi_fields.fields(TOP_LEVEL).get(key):
            problems.append(f"{key} (not a {TOP_LEVEL} field)")
            continue
        cls = NESTED.get(key)
        if key == "speculative_config" and value is not None:
            cls = _speculative_class(value)
        if cls is None or not isinstance(value, dict):
            continue
        for sub in value:
            if key == "speculative_config" and sub == "decoding_type":
                out.append((f"{key}.{sub}", DECODING_TYPE))
                continue
            out.append((f"{key}.{sub}", cls))
            if sub not in llmapi_fields.fields(cls):
                problems.append(f"{key}.{sub} (not a {cls} field)")
    if problems:
        raise ValueError(
            f"model.yaml keys unknown to TensorRT-LLM {llmapi_fields.pinned_version()}: "
            f"{', '.join(problems)} ({llmapi_fields.EXTRACT.name})"
        )
    return out


def check(mapping: dict) -> None:
    sources(mapping)


def citations(mapping: dict) -> list[str]:
    """One line per key: its value and where the field is defined (repository, path, commit)."""
    repository = llmapi_fields.extract()["source"]["repository"]
    lines = []
    for key, cls in sources(mapping):
        facts = llmapi_fields.class_facts(cls)
        value = mapping
        for part in key.split("."):
            value = value[part]
        role = "from_dict key" if key.endswith(".decoding_type") else "field"
        # LoraConfig was read at a commit of unknown release: its caveat is printed with it
        version = facts.get("source_commit_short") or facts.get("version_caveat", "?")
        lines.append(
            f"#   {key} = {_scalar(value)}: {cls} {role}, {repository} {facts['path']} @{facts['commit']} "
            f"(TensorRT-LLM {version})"
        )
    return lines


def _scalar(value) -> str:
    if isinstance(value, dict):
        return "{...}"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def render(settings: LlmApiSettings) -> str:
    mapping = settings.to_yaml()
    check(mapping)
    repo, path, commit = UPSTREAM_MODEL_YAML
    header = [
        f"# LLM(**kwargs) of the engine model: TensorRT-LLM {llmapi_fields.pinned_version()}'s LLM API",
        "# (PyTorch backend). Written by `python -m build_engines gpu-repo --gpu-engine pytorch`;",
        f"# format as upstream's {repo} {path} @{commit[:8]}.",
        "# Every key is a field of TorchLlmArgs (nested: KvCacheConfig, CudaGraphConfig, LoraConfig, the",
        "# speculative config of decoding_type) at that version: python_backend/contract/llmapi_fields.json.",
        "# `model` is the checkpoint as the server sees it (python_backend/contract/repo_paths.py).",
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)


def write(settings: LlmApiSettings, path: Path) -> Path:
    text = render(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    check(yaml.safe_load(path.read_text(encoding="utf-8")))  # what we wrote reads back as valid
    return path
