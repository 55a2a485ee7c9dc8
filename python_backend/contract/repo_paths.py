"""Before Triton starts: every path a model config of the repository names exists, or say how to fix it.

A GPU repository names its engine and its xgrammar tokenizer-info file by absolute path (the
`tensorrtllm` backend takes nothing else), written for the path the server will see it at
(`gpu-repo --repo-mount-path`). Copied or mounted anywhere else, those paths point nowhere and the
backend refuses the model with a message that hides the cause ("Both encoder and decoder model
paths are empty", trtllm_backend.NO_ENGINE_PATH). This check runs first and names the config file,
the parameter, the path and the flag.

Which parameters: trtllm_backend.PATH_PARAMETERS. An empty value or the template's `${name}`
placeholder names nothing; a relative value is relative to the model's version directory `1/`
(how our Python models read `tokenizer_dir`, triton_io/model_configs.py).

The PyTorch-backend path names its checkpoint in the engine model's `1/model.yaml` instead (`model:`,
the LLM API's argument, written by `gpu-repo --gpu-engine pytorch` for
<repo-mount-path>/engine/1/checkpoint or --checkpoint-path): an absolute `model` path is checked the
same way. A relative one is a Hugging Face hub name to the LLM API, not a path, and is left alone.

Standard library only, so it runs wherever the repository does: `python3 -m
python_backend.contract.repo_paths REPO` from any model's version directory of the repository (each
Python model carries python_backend/), as the Helm chart's pods do before `tritonserver`.
Exit 0: every path exists; 1: the problems, one per line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .trtllm_backend.parameters import PATH_PARAMETERS, PLACEHOLDER

FLAG = "--repo-mount-path"
# One `parameters { key: "..." value { string_value: "..." } }` entry of a text-format ModelConfig, as
# protobuf's text_format writes it (build_engines/model_config.py) and as hand-written configs spell it.
_PARAMETER = re.compile(
    r'key\s*:\s*"(?P<key>[^"]+)"\s*value\s*:?\s*\{\s*string_value\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"'
)
_ESCAPE = re.compile(r"\\(.)")
# model.yaml's top-level `model:` scalar, plain or quoted, as yaml.safe_dump writes it (build_engines/llmapi).
_YAML_MODEL = re.compile(
    r"""^model:[ \t]*(?P<q>["']?)(?P<value>[^"'#\n]*?)(?P=q)[ \t]*(?:#.*)?$""", re.MULTILINE
)
LLM_CONFIG = "model.yaml"
CHECKPOINT_FLAG = "--checkpoint-path"


def config_parameters(text: str) -> dict[str, str]:
    """The string parameters of a config.pbtxt's text (quotes and backslashes unescaped)."""
    return {m["key"]: _ESCAPE.sub(r"\1", m["value"]) for m in _PARAMETER.finditer(text)}


def named_paths(config: Path) -> list[tuple[str, Path]]:
    """(parameter, path) for each path parameter of `config` that names something."""
    params = config_parameters(config.read_text(encoding="utf-8"))
    found = []
    for name in PATH_PARAMETERS:
        value = params.get(name, "")
        if value == "" or value == PLACEHOLDER.format(name=name):
            continue
        path = Path(value)
        found.append((name, path if path.is_absolute() else config.parent / "1" / path))
    return found


def llm_checkpoint(model_yaml: Path) -> Path | None:
    """The absolute checkpoint path a model.yaml's `model` names (None: no such key, or a hub name)."""
    found = _YAML_MODEL.search(model_yaml.read_text(encoding="utf-8"))
    if found is None or not found["value"].startswith("/"):
        return None
    return Path(found["value"])


def missing_paths(repo: Path) -> list[str]:
    """One message per path a config of `repo` names that does not exist (empty: all good)."""
    problems = []
    for model_yaml in sorted(Path(repo).glob(f"*/1/{LLM_CONFIG}")):
        path = llm_checkpoint(model_yaml)
        if path is not None and not path.exists():
            problems.append(
                f"{model_yaml}: model names {path}, which does not exist: the repository was assembled "
                f"for another path. Assemble it again with {FLAG} set to the path the server sees it "
                f"at (here {Path(repo).absolute()}), or {CHECKPOINT_FLAG} set to where the checkpoint "
                "is mounted"
            )
    for config in sorted(Path(repo).glob("*/config.pbtxt")):
        for name, path in named_paths(config):
            if not path.exists():
                problems.append(
                    f"{config}: {name} names {path}, which does not exist: the repository was assembled "
                    f"for another path. Assemble it again with {FLAG} set to the path the server sees "
                    f"it at (here {Path(repo).absolute()})"
                )
    return problems


def check_repository(repo: Path) -> None:
    """Raise FileNotFoundError naming every missing path (the file, the path, the flag to fix it)."""
    problems = missing_paths(repo)
    if problems:
        raise FileNotFoundError("\n".join(problems))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m python_backend.contract.repo_paths MODEL_REPOSITORY", file=sys.stderr)
        return 2
    problems = missing_paths(Path(args[0]))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
