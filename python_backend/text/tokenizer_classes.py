"""Which transformers class loads a tokenizer directory, whichever major version of transformers wrote it.

transformers 5 saves a tokenizer backed by tokenizer.json with `"tokenizer_class": "TokenizersBackend"`
in tokenizer_config.json (our bundled checkpoint is saved so by `build_engines checkpoint`), a class
transformers 4 does not have: its AutoTokenizer refuses the directory ("Tokenizer class
TokenizersBackend does not exist or is not currently imported"). The NGC 26.04 TensorRT-LLM image,
where the GPU repository's preprocessing and postprocessing run, ships transformers 4.57.3
(requirements/ngc-26.04-trtllm.txt). transformers 4's class for the same files is
PreTrainedTokenizerFast: it reads tokenizer.json, the special tokens of tokenizer_config.json and
chat_template.jinja, and encodes, decodes and applies the chat template to the same ids
(tests/python_backend/text/test_text.py runs under both versions: make test-image).
"""

from __future__ import annotations

import json
from pathlib import Path

V5_GENERIC_CLASS = "TokenizersBackend"


def saved_class(tokenizer_dir: Path) -> str | None:
    """The tokenizer_class tokenizer_config.json names, if any."""
    config = Path(tokenizer_dir) / "tokenizer_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")


def from_directory(tokenizer_dir: Path, trust_remote_code: bool = False):
    """The tokenizer saved in `tokenizer_dir`, from local files only."""
    import transformers

    if saved_class(tokenizer_dir) == V5_GENERIC_CLASS and not hasattr(transformers, V5_GENERIC_CLASS):
        return transformers.PreTrainedTokenizerFast.from_pretrained(tokenizer_dir, local_files_only=True)
    return transformers.AutoTokenizer.from_pretrained(
        tokenizer_dir, local_files_only=True, trust_remote_code=trust_remote_code
    )
