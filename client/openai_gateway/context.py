"""The served model's length limits, and prompts refused in the API's words before Triton sees them.

The limits are preprocessing's parameters (max_seq_len, max_input_len, max_text_bytes), which the
assembly writes into its config.pbtxt (python_backend/triton_io/model_configs.py): the gateway reads
that file beside the tokenizer it already loads (<repository>/preprocessing/1/tokenizer). Without
it the context is unknown: only the byte cap (the contract's default) is checked here, and the
engine's own refusal reaches the client.

vLLM's wording for a prompt over the context is what OpenAI clients and their users know:
"This model's maximum context length is N tokens. However, you requested M tokens (P in the
messages, C in the completion). Please reduce the length of the messages or completion."
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract.limits import MAX_TEXT_BYTES

from .errors import OpenAIError

log = logging.getLogger("triton_llm.gateway")
BYTES_PER_TOKEN = 4  # a rough average for English text with BPE tokenizers (OpenAI quotes 4 characters)


@dataclass(frozen=True, kw_only=True)
class ModelLimits:
    max_seq_len: int | None = None  # prompt + completion tokens; None: unknown
    max_input_len: int | None = None  # the longest prompt in tokens; None: unknown
    max_text_bytes: int = MAX_TEXT_BYTES  # a prompt's UTF-8 bytes, refused before tokenizing

    @classmethod
    def beside(cls, tokenizer_dir: Path | None) -> ModelLimits:
        """The limits of the repository whose tokenizer this is, or the unknown defaults."""
        if tokenizer_dir is None:
            return cls()
        config_file = Path(tokenizer_dir).resolve().parents[1] / "config.pbtxt"
        try:
            params = _parameters(config_file.read_text())
        except (OSError, ValueError) as exc:
            log.warning("%s: %s; the model's context length is unknown", config_file, exc)
            return cls()
        # The names PreprocessingConfig writes (python_backend/triton_io/model_configs.py, which the
        # gateway's image does not hold; test_gateway_malformed.py holds the two equal).
        try:
            max_seq_len = int(params["max_seq_len"])
            max_input_len = int(params.get("max_input_len") or max_seq_len - 1)
            max_text_bytes = int(params.get("max_text_bytes") or MAX_TEXT_BYTES)
        except (KeyError, ValueError) as exc:
            log.warning(
                "%s: no usable max_seq_len (%s); the model's context length is unknown", config_file, exc
            )
            return cls()
        return cls(max_seq_len=max_seq_len, max_input_len=max_input_len, max_text_bytes=max_text_bytes)

    def check_bytes(self, prompt: str, param: str) -> None:
        """The byte cap preprocessing applies before tokenizing (text_input: for chat, the messages'
        JSON), stated in bytes with its rough size in tokens."""
        size = len(prompt.encode("utf-8"))
        if size > self.max_text_bytes:
            raise OpenAIError(
                400,
                f"The {param} {_are(param)} {size} bytes; this server takes at most "
                f"{self.max_text_bytes} bytes (roughly {self.max_text_bytes // BYTES_PER_TOKEN} tokens) "
                f"before tokenizing. Please reduce the length of the {param}.",
                type_="invalid_request_error",
                param=param,
                code="context_length_exceeded",
            )

    def check_tokens(self, prompt_tokens: int, max_tokens: int, param: str) -> None:
        """prompt + max_tokens within max_seq_len, and the prompt within max_input_len (as the engine
        checks them: contract/limits.py check_prompt_length and check_fits_context)."""
        if self.max_seq_len is None or prompt_tokens < 1:  # unknown limits; an empty prompt is the engine's
            return
        requested = prompt_tokens + max_tokens
        if requested > self.max_seq_len:
            raise OpenAIError(
                400,
                f"This model's maximum context length is {self.max_seq_len} tokens. However, you requested "
                f"{requested} tokens ({prompt_tokens} in the {param}, {max_tokens} in the completion). "
                f"Please reduce the length of the {param} or completion.",
                type_="invalid_request_error",
                param=param,
                code="context_length_exceeded",
            )
        if self.max_input_len is not None and prompt_tokens > self.max_input_len:
            raise OpenAIError(
                400,
                f"This model takes prompts of at most {self.max_input_len} tokens. However, the "
                f"{param} {_are(param)} {prompt_tokens} tokens. Please reduce the length of the {param}.",
                type_="invalid_request_error",
                param=param,
                code="context_length_exceeded",
            )


def _are(param: str) -> str:
    return "are" if param == "messages" else "is"


def _parameters(text: str) -> dict[str, str]:
    """A model config's `parameters` map (Triton stores every value as a string)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    try:
        config = text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ValueError(f"not a model config: {exc}") from None
    return {key: value.string_value for key, value in config.parameters.items()}


def admit(limits: ModelLimits, counter, body: dict, call) -> None:
    """Refuse a parsed call whose prompt (each prompt of a list) is over the byte cap or, with a
    tokenizer, over the context. Tokenizes: run it off the event loop. counter: answers.PromptCounter."""
    if call.chat:  # text_input is the messages' JSON; the tokens are the chat template's
        limits.check_bytes(call.request.prompt, "messages")
        counts = [counter.count(call)] if counter.tokenizer else []
    elif call.token_prompts:  # counted as they are; preprocessing checks them against the vocabulary
        counts = [len(ids) for ids in call.prompts]
    else:
        for prompt in call.prompts:
            limits.check_bytes(prompt, "prompt")
        counts = [counter.text(prompt) for prompt in call.prompts] if counter.tokenizer else []
    for count in counts:
        limits.check_tokens(count, call.request.max_tokens, call.prompt_param)
