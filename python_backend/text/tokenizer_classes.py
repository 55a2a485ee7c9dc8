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

AutoTokenizer decides the class from the model's config as well (a few model types override the class
tokenizer_config.json names), and reading that config imports the model's configuration module and,
through it, torch: about 5 s of CPU in each of preprocessing's and postprocessing's stubs at every
model load, against about 1 s for the class alone. So the assembly asks AutoTokenizer once and writes
its answer beside the tokenizer files (RESOLVED_FILE, with the transformers version that gave it);
a load under that same version takes the class directly, any other version asks AutoTokenizer again.
"""

from __future__ import annotations

import json
from pathlib import Path

V5_GENERIC_CLASS = "TokenizersBackend"
RESOLVED_FILE = "resolved_tokenizer_class.json"


def saved_class(tokenizer_dir: Path) -> str | None:
    """The tokenizer_class tokenizer_config.json names, if any."""
    config = Path(tokenizer_dir) / "tokenizer_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")


def resolution(tokenizer) -> dict | None:
    """RESOLVED_FILE's record for a tokenizer from_directory loaded without one: its class and the
    running transformers version; None when the class is not one of transformers' own (remote code)."""
    import transformers

    name = type(tokenizer).__name__
    if getattr(transformers, name, None) is not type(tokenizer):
        return None
    return {"class": name, "transformers": transformers.__version__}


def resolved_class(tokenizer_dir: Path):
    """The class RESOLVED_FILE names, if it was resolved under the running transformers version."""
    import transformers

    path = Path(tokenizer_dir) / RESOLVED_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("transformers") != transformers.__version__:
        return None
    return getattr(transformers, record.get("class", ""), None)


def from_directory(tokenizer_dir: Path, trust_remote_code: bool = False, use_record: bool = True):
    """The tokenizer saved in `tokenizer_dir`, from local files only (use_record=False: as if it had no
    RESOLVED_FILE)."""
    import transformers

    resolved = resolved_class(tokenizer_dir) if use_record and not trust_remote_code else None
    if resolved is not None:
        return resolved.from_pretrained(tokenizer_dir, local_files_only=True)
    if saved_class(tokenizer_dir) == V5_GENERIC_CLASS and not hasattr(transformers, V5_GENERIC_CLASS):
        return transformers.PreTrainedTokenizerFast.from_pretrained(tokenizer_dir, local_files_only=True)
    return transformers.AutoTokenizer.from_pretrained(
        tokenizer_dir, local_files_only=True, trust_remote_code=trust_remote_code
    )
