"""Before Triton starts (lora.enabled): the repository's LoRA parameters say what the chart's lora.* say.

Triton reads `lora_dir`, `max_loras` and `max_lora_rank` from the models' config.pbtxt, written at assembly
(`make repo LORA_DIR=... MAX_LORAS=... MAX_LORA_RANK=...`); the chart only mounts the adapter directory. A
repository assembled without LoRA, or for another directory, would refuse every adapter by name while the pod
looks healthy, so this stops the pod instead, naming the config file, the parameter, both values and the flag.
Standard library only: it runs in the serving image.
Env: MODEL_REPOSITORY, LORA_DIR, MAX_LORAS, MAX_LORA_RANK.
"""

import os
import re
import sys
from pathlib import Path

# One `parameters { key: "..." value { string_value: "..." } }` entry, as protobuf's text_format writes it
# (the same pattern as python_backend/contract/repo_paths.py).
PARAMETER = re.compile(
    r'key\s*:\s*"(?P<key>[^"]+)"\s*value\s*:?\s*\{\s*string_value\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"'
)
# The pytorch path's engine/1/model.yaml: `lora_config:` and its indented fields, as yaml.safe_dump writes
# them (build_engines/llmapi/lora.py); only the two integer fields are read.
LORA_CONFIG = re.compile(r"^lora_config:[ \t]*\n((?:[ \t]+.*(?:\n|$))*)", re.MULTILINE)
FIELD = re.compile(r"^[ \t]+(?P<key>max_loras|max_lora_rank):[ \t]*(?P<value>\d+)[ \t]*$", re.MULTILINE)
# parameter -> (the value lora.* asks for, the value name, the assembly's Make variable)
EXPECTED = {
    "lora_dir": (os.environ["LORA_DIR"].rstrip("/") or "/", "lora.dir", "LORA_DIR"),
    "max_loras": (os.environ["MAX_LORAS"], "lora.maxLoras", "MAX_LORAS"),
    "max_lora_rank": (os.environ["MAX_LORA_RANK"], "lora.maxLoraRank", "MAX_LORA_RANK"),
}


def main() -> int:
    repository = Path(os.environ["MODEL_REPOSITORY"])
    problems, found = [], False
    for config in sorted(repository.glob("*/config.pbtxt")):
        for match in PARAMETER.finditer(config.read_text()):
            key, value = match["key"], match["value"]
            if key not in EXPECTED:
                continue
            expected, name, variable = EXPECTED[key]
            if key == "lora_dir":
                found = found or bool(value)
                value = value.rstrip("/") or ("/" if value else "")
            if value and value != expected:
                problems.append(
                    f"{config}: parameter {key} is {value!r} but {name} is {expected!r}: "
                    f"assemble the repository with {variable}={expected} or set {name} to {value!r}"
                )
    model_yaml = repository / "engine" / "1" / "model.yaml"
    block = LORA_CONFIG.search(model_yaml.read_text()) if model_yaml.is_file() else None
    for match in FIELD.finditer(block[1] if block else ""):
        key, value = match["key"], match["value"]
        expected, name, _ = EXPECTED[key]
        if value != expected:
            problems.append(
                f"{model_yaml}: lora_config.{key} is {value} but {name} is {expected}: "
                f"assemble with --{key.replace('_', '-')} {expected} or set {name} to {value}"
            )
    if not found:
        problems.append(
            f"{repository}: no model has a lora_dir parameter, so every adapter would be refused: "
            f"assemble the repository with LORA_DIR={EXPECTED['lora_dir'][0]} (docs/LORA.md) "
            "or set lora.enabled false"
        )
    if not Path(EXPECTED["lora_dir"][0]).is_dir():
        problems.append(f"{EXPECTED['lora_dir'][0]}: the adapter directory (lora.dir) is not mounted")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"LoRA: the repository serves adapters from {EXPECTED['lora_dir'][0]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
