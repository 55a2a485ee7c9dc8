"""LoRARequest as in TensorRT-LLM 1.2.1 (gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/executor/request.html, `@dataclass(slots=True)`): fields and defaults from
the extract; `__post_init__` as 1.2.1's: a lora_path that does not exist (the empty default too:
`os.path.exists("")` is False) and a lora_ckpt_source other than hf / nemo raise ValueError with its
messages. generate_async serves it when the LLM has a lora_config (llmapi/lora.py)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from .._extract import REQUIRED, fields


def _post_init(self) -> None:
    if self.lora_path is not None and not os.path.exists(self.lora_path):
        raise ValueError(f"lora_path ({self.lora_path}) does not exist.")
    choices = fields("LoRARequest")["lora_ckpt_source"]["choices"]  # ["hf", "nemo"]
    if self.lora_ckpt_source not in choices:
        raise ValueError(
            f"lora_ckpt_source must be {' or '.join(repr(c) for c in choices)}, got '{self.lora_ckpt_source}'"
        )


LoRARequest = dataclasses.make_dataclass(
    "LoRARequest",
    [
        (name, Any)
        if facts["default"] == REQUIRED
        else (name, Any, dataclasses.field(default=facts["default"]))
        for name, facts in fields("LoRARequest").items()
    ],
    namespace={"__post_init__": _post_init},
    slots=True,
)
LoRARequest.__module__ = __name__
