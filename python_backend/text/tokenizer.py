"""Preprocessing: text → token ids, chat template, stop/bad words, end ids.

Loaded once per model instance from a local directory (never a hub: `local_files_only=True`, and
no `trust_remote_code` unless the deployment asks for it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..contract.errors import InputError
from ..contract.limits import (
    MAX_STOP_WORD_TOKENS,
    MAX_STOP_WORDS,
    MAX_TEXT_BYTES,
    MAX_TOKENS,
    check_fits_context,
    check_prompt_length,
)
from . import tokenizer_classes

# Fills the rows of a batch of token-id prompts (input_token_ids) up to the longest; never a token.
TOKEN_ID_PADDING = -1


def load_tokenizer(tokenizer_dir: str | Path, trust_remote_code: bool = False):
    path = Path(tokenizer_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: tokenizer directory does not exist")
    # Not AutoTokenizer directly: a directory transformers 5 wrote needs another class under 4.x.
    return tokenizer_classes.from_directory(path, trust_remote_code)


def generation_end_ids(tokenizer_dir: str | Path, tokenizer) -> list[int]:
    """Every end id the model may emit: generation_config's eos_token_id (an int or a list), else the
    tokenizer's EOS. Models such as Llama 3 end turns with several different tokens."""
    path = Path(tokenizer_dir) / "generation_config.json"
    ids: list[int] = []
    if path.is_file():
        eos = json.loads(path.read_text()).get("eos_token_id")
        ids = [eos] if isinstance(eos, int) else list(eos or [])
    if not ids and tokenizer.eos_token_id is not None:
        ids = [tokenizer.eos_token_id]
    if not ids:
        raise ValueError(f"{tokenizer_dir}: no end id in generation_config.json or the tokenizer")
    return ids


def model_vocab_size(tokenizer_dir: str | Path, tokenizer) -> int:
    """The model's vocab_size: the rows of its logits, which TensorRT-LLM's embedding_bias must match
    (contract/trtllm_backend/executor.py EMBEDDING_BIAS_SHAPE). Read from the checkpoint's config.json
    (or text_config's, for a multimodal one), else an ONNX export's genai_config.json; len(tokenizer)
    only when neither is there. Models pad it: Qwen2.5 0.5B has 151936 logits for 151665 tokens."""
    path = Path(tokenizer_dir)
    for name, keys in (("config.json", ((), ("text_config",))), ("genai_config.json", (("model",),))):
        if not (path / name).is_file():
            continue
        config = json.loads((path / name).read_text())
        for key_path in keys:
            section = config
            for key in key_path:
                section = section.get(key) or {}
            if isinstance(section.get("vocab_size"), int):
                return section["vocab_size"]
    return len(tokenizer)


class Preprocessor:
    def __init__(
        self,
        tokenizer_dir: str | Path,
        max_seq_len: int,
        max_stop_words: int = MAX_STOP_WORDS,
        max_stop_word_tokens: int = MAX_STOP_WORD_TOKENS,
        max_text_bytes: int = MAX_TEXT_BYTES,
        trust_remote_code: bool = False,
        max_input_len: int | None = None,
    ):
        """max_seq_len is the engine's (prompt and answer together); max_input_len its longest prompt
        (default max_seq_len − 1; a TensorRT-LLM engine without chunked context takes fewer)."""
        self.tokenizer = load_tokenizer(tokenizer_dir, trust_remote_code)
        self.end_ids = generation_end_ids(tokenizer_dir, self.tokenizer)
        self.vocab_size = model_vocab_size(tokenizer_dir, self.tokenizer)
        self.pad_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.end_ids[0]
        )
        self.max_seq_len = max_seq_len
        self.max_input_len = max_seq_len - 1 if max_input_len is None else min(max_input_len, max_seq_len - 1)
        self.max_stop_words = max_stop_words
        self.max_stop_word_tokens = max_stop_word_tokens
        self.max_text_bytes = max_text_bytes
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))

    def encode(self, text: str, apply_chat_template: bool = False) -> list[int]:
        # Checked before tokenizing: tokenizing a huge body is itself the cost to avoid.
        size = len(text.encode("utf-8"))
        if size > self.max_text_bytes:
            raise InputError(f"text_input: {size} bytes; the limit is {self.max_text_bytes}")
        if not text.strip():
            raise InputError("text_input: must not be empty")
        if apply_chat_template:
            if not self.has_chat_template:
                raise InputError("apply_chat_template: this model's tokenizer has no chat template")
            messages = _parse_messages(text)
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            ids = list(ids)
        else:
            ids = self.tokenizer.encode(text, add_special_tokens=True)
        check_prompt_length(len(ids), self.max_input_len, self.max_seq_len)
        return ids

    def token_prompt(self, ids: list[int], field: str = "input_token_ids") -> list[int]:
        """A prompt given as token ids (sent instead of text): checked against the model's vocabulary
        and the context limit, else InputError naming `field`. Trailing TOKEN_ID_PADDING entries are
        dropped first: in a batch of prompts, the rows shorter than the longest are filled with it."""
        end = len(ids)
        while end and ids[end - 1] == TOKEN_ID_PADDING:
            end -= 1
        ids = [int(i) for i in ids[:end]]
        for position, token in enumerate(ids):
            if not 0 <= token < self.vocab_size:
                raise InputError(
                    f"{field}: token id {token} at position {position} is outside the vocabulary "
                    f"[0, {self.vocab_size})"
                )
        check_prompt_length(len(ids), self.max_input_len, self.max_seq_len, field=field)
        return ids

    def check_max_tokens(self, max_tokens: int, prompt_len: int) -> None:
        MAX_TOKENS.check("max_tokens", max_tokens)
        check_fits_context(prompt_len, max_tokens, self.max_seq_len)

    def word_sequences(self, words: list[str], field: str) -> list[list[int]]:
        """Token sequences of each word as it appears in running text.

        A word is tokenized differently at the start of a text and after a space ("Paris" vs
        " Paris" in byte-level BPE); generated text almost always has the second form, so both
        are listed (a common reason upstream stop words never fire)."""
        words = [w for w in words if w]
        if len(words) > self.max_stop_words:
            raise InputError(f"{field}: {len(words)} entries; the limit is {self.max_stop_words}")
        sequences: list[list[int]] = []
        for word in words:
            variants = [word] if word.startswith(" ") else [word, " " + word]
            for variant in variants:
                ids = self.tokenizer.encode(variant, add_special_tokens=False)
                if len(ids) > self.max_stop_word_tokens:
                    raise InputError(
                        f"{field}: {word!r} is {len(ids)} tokens; the limit is {self.max_stop_word_tokens}"
                    )
                if ids and ids not in sequences:
                    sequences.append(ids)
        return sequences

    def embedding_bias(
        self,
        words: list[str],
        weights: list[float],
        token_ids: list[int] = (),
        values: list[float] = (),
    ) -> np.ndarray:
        """The engine's embedding_bias FP32 [vocab_size] (empty when no bias is asked for), the sum of
        - tensorrtllm_backend's embedding_bias_words / _weights: each word's weight is added to the
          logit of every token of the word, in both its running-text forms (as word_sequences:
          "Paris" and " Paris"; upstream tokenizes the word alone, which misses the form that
          follows a space);
        - logit_bias_token_ids / _values (OpenAI's logit_bias by token id): each value is added to
          its token's logit (a token listed twice gets both)."""
        _check_pairs(words, weights, "embedding_bias_words", "embedding_bias_weights")
        _check_pairs(token_ids, values, "logit_bias_token_ids", "logit_bias_values")
        if not words and not token_ids:
            return np.zeros(0, dtype=np.float32)
        bias = np.zeros(self.vocab_size, dtype=np.float32)  # the model's, not len(tokenizer)
        for word, weight in zip(words, weights, strict=True):
            if not word:
                raise InputError("embedding_bias_words: entries must not be empty")
            ids = {t for seq in self.word_sequences([word], "embedding_bias_words") for t in seq}
            bias[list(ids)] += weight
        for token in token_ids:
            if not 0 <= token < self.vocab_size:
                raise InputError(
                    f"logit_bias_token_ids: token id {token} is outside the vocabulary [0, {self.vocab_size})"
                )
        np.add.at(bias, np.asarray(token_ids, dtype=np.int64), np.asarray(values, dtype=np.float32))
        return bias

    def stop_sequences(self, stop_words: list[str], end_id: int) -> list[list[int]]:
        """Stop words plus every end id other than `end_id` (the engine takes a single end id, as
        TensorRT-LLM does, so the others stop generation as one-token stop words)."""
        sequences = self.word_sequences(stop_words, "stop_words")
        sequences += [[i] for i in self.end_ids if i != end_id and [i] not in sequences]
        return sequences


def _check_pairs(keys: list, values: list[float], keys_field: str, values_field: str) -> None:
    """One finite value per key (the bias inputs come in such pairs)."""
    if len(keys) != len(values):
        raise InputError(
            f"{values_field}: {len(values)} values for {len(keys)} {keys_field}; give one value per entry"
        )
    if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
        raise InputError(f"{values_field}: values must be finite numbers")


def _parse_messages(text: str) -> list[dict[str, str]]:
    """A chat request's text is either a JSON list of {role, content} messages or a plain user turn."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            messages = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"text_input: looks like a JSON message list but does not parse: {exc}") from exc
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise InputError('text_input: a message list must be [{"role": str, "content": str}, ...]')
        if not messages:
            raise InputError("text_input: the message list is empty")
        return messages
    return [{"role": "user", "content": text}]
