"""An OpenAI request body → a `Call`: what to send to Triton and how to shape the answer. The
prompt itself (chat messages, completion prompt) is read by messages.py.

Every check raises OpenAIError (400 naming the parameter, or 404 for a model that is neither the base
model nor an adapter in the adapter directory: adapters.py); the numeric
limits are the request contract's (client.wire.checked → python_backend/contract/limits.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from python_backend.contract.errors import InputError
from python_backend.contract.limits import NUM_RETURN_SEQUENCES, SAMPLING_LIMITS, check_min_tokens

from .. import wire
from ..types import GenerateRequest
from . import logprobs, token_params, tools
from .adapters import ServedModels
from .errors import from_input_error, invalid
from .messages import chat_messages, completion_prompts
from .structured import response_format_guide

# Every top-level parameter a request may carry; anything else is a 400 naming it (OpenAI does the
# same: a misspelt "temprature" must not silently run with the default).
COMMON_PARAMS = {
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "n",
    "stream",
    "stream_options",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "user",
    "response_format",
    # vLLM's extensions (benchmarks force output lengths with min_tokens / ignore_eos)
    "min_tokens",
    "ignore_eos",
    "stop_token_ids",
    "repetition_penalty",
    "skip_special_tokens",
    "include_stop_str_in_output",
    "speculative_draft_len",
}  # the last: ours (engine/drafter.py)
COMPLETION_PARAMS = COMMON_PARAMS | {"prompt", "echo", "best_of", "suffix"}
CHAT_PARAMS = COMMON_PARAMS | {
    "messages",
    "max_completion_tokens",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "metadata",
    "store",
}
# OpenAI's defaults are unbounded; these keep an answer that never stops short.
DEFAULT_MAX_TOKENS = {"chat": 256, "completion": 16}


@dataclass(frozen=True, kw_only=True)
class Call:
    """One OpenAI request, parsed."""

    chat: bool  # /v1/chat/completions (else /v1/completions)
    model: str  # the served name the client asked for
    request: GenerateRequest  # what Triton is sent
    prompt_text: str  # completions: the prompt (for echo); chat: ""
    echo: bool  # completions: the answer starts with the prompt
    stream: bool
    include_usage: bool  # streaming: a last chunk carries usage
    prompt_param: str  # the parameter Triton's prompt errors are blamed on: "prompt" or "messages"
    keep_stop: bool = False  # include_stop_str_in_output: the matched stop string stays in the text
    logprobs: bool = False  # choices carry each generated token's log prob (logprobs.py)
    top_logprobs: int = 0  # and that many alternatives per token (from generation_logits)
    tools: tools.ToolPlan | None = None  # chat with tools: the answer may be tool calls (tools.py)
    # Completions: the prompts, each a string or token ids (tuple[int, ...]); several are sent as one
    # batched request (prompt_text and request are the first's; per_prompt() gives one Call each).
    # Empty for chat.
    prompts: tuple[str | tuple[int, ...], ...] = ()

    @property
    def token_prompts(self) -> bool:
        """The prompts are token ids (OpenAI takes a list of strings or of token lists, never both)."""
        return bool(self.prompts) and not isinstance(self.prompts[0], str)

    @property
    def trimmed_stop(self) -> tuple[str, ...]:
        """The stop strings to cut from the answer's end (none with include_stop_str_in_output)."""
        return () if self.keep_stop else self.request.stop

    def per_prompt(self, decode=None) -> list[Call]:
        """One Call per prompt (this call alone for one text prompt). A token prompt's prompt_text,
        which echo puts before the answer, is decode(ids) when echo is asked for."""
        if len(self.prompts) < 2 and not self.token_prompts:
            return [self]
        return [self._for_prompt(p, decode) for p in self.prompts]

    def _for_prompt(self, prompt: str | tuple[int, ...], decode) -> Call:
        if isinstance(prompt, str):
            return replace(self, prompt_text=prompt, request=replace(self.request, prompt=prompt))
        text = decode(prompt) if self.echo and decode is not None else ""
        return replace(
            self, prompt_text=text, request=replace(self.request, prompt="", prompt_token_ids=prompt)
        )


def parse_call(body: dict, chat: bool, models: ServedModels | tuple[str, ...]) -> Call:
    """models: the base model's names (the listed, served name first) and the adapter directory; a
    bare tuple of names serves no adapters. `"model": "<adapter>"` sends the adapter's lora_name."""
    models = models if isinstance(models, ServedModels) else ServedModels(tuple(models))
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise invalid("model: required", "model")
    lora_name = models.adapter_of(name)
    _refuse_unsupported(body, chat)
    params = sampling(body, DEFAULT_MAX_TOKENS["chat" if chat else "completion"])
    params["lora_name"] = lora_name
    params["guide_type"], params["guide"] = response_format_guide(body)
    top_logprobs = logprobs.wanted(body, chat)
    params["log_probs"] = top_logprobs is not None
    params["logits"] = bool(top_logprobs)
    params["prompt_logits"] = top_logprobs is not None and not chat and bool(body.get("echo"))
    params["num_return_sequences"] = _choices(body)
    params["end_id"] = token_params.stop_token(body)
    params["logit_bias"] = token_params.logit_bias(body)
    plan = tools.tool_plan(body) if chat else None
    if plan is not None and plan.calls:
        if params["guide_type"] is not None:
            raise invalid(
                'response_format: cannot be combined with tools unless tool_choice is "none" '
                "(the tool calls' grammar is the answer's format)",
                "response_format",
            )
        params["guide_type"] = "ebnf_grammar"
        params["guide"] = tools.grammar(plan)
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise invalid("stream_options: must be an object", "stream_options")
    if chat:
        request = GenerateRequest.chat_messages(chat_messages(body, tools.system_text(plan)), **params)
        prompt_text = ""
        prompt_param = "messages"
    else:
        prompts = completion_prompts(body)
        first = prompts[0]
        prompt_text = first if isinstance(first, str) else ""  # a token prompt's: per_prompt()
        ids = None if isinstance(first, str) else first
        request = GenerateRequest(prompt_text, chat=False, prompt_token_ids=ids, **params)
        prompt_param = "prompt"
    return Call(
        chat=chat,
        model=name,
        request=request,
        prompt_text=prompt_text,
        echo=bool(body.get("echo")) and not chat,
        stream=bool(body.get("stream")),
        include_usage=bool(stream_options.get("include_usage")),
        prompt_param=prompt_param,
        keep_stop=_flag(body, "include_stop_str_in_output", False),
        logprobs=params["log_probs"],
        top_logprobs=top_logprobs or 0,
        tools=plan,
        prompts=() if chat else prompts,
    )


# The OpenAI API's documented defaults (temperature, top_p: 1), applied when a body leaves them out.
OPENAI_DEFAULTS = {"temperature": 1.0, "top_p": 1.0}


def sampling(body: dict, default_max_tokens: int) -> dict:
    """The ensemble's sampling inputs from an OpenAI body (validated; errors name the param)."""
    # Newer OpenAI clients send max_completion_tokens (chat); either name is accepted.
    limit = (
        "max_completion_tokens"
        if body.get("max_tokens") is None and "max_completion_tokens" in body
        else "max_tokens"
    )
    max_tokens = _checked(body, "max_tokens", limit)
    max_tokens = default_max_tokens if max_tokens is None else max_tokens
    top_p = _checked(body, "top_p")
    min_tokens = _checked(body, "min_tokens")
    if _flag(body, "ignore_eos", False):
        # vLLM's ignore_eos: generate max_tokens unless a stop string matches. Holding the end id
        # back for all max_tokens tokens is exactly that (min_tokens is TensorRT-LLM's own input).
        min_tokens = max_tokens
    if min_tokens is not None:
        try:
            check_min_tokens(min_tokens, max_tokens)
        except InputError as exc:
            raise from_input_error(exc) from None
    top_k = _checked(body, "top_k")
    temperature = _checked(body, "temperature")
    return {
        "max_tokens": max_tokens,
        # OpenAI's defaults, sent explicitly: temperature 1 and top_p 1 (sampling from the whole
        # distribution), as the OpenAI API documents them; the ensemble's own default is greedy.
        "temperature": OPENAI_DEFAULTS["temperature"] if temperature is None else temperature,
        "top_k": top_k or None,  # 0 = no top-k (the request contract refuses vLLM's -1)
        "top_p": OPENAI_DEFAULTS["top_p"] if top_p is None else top_p,
        "seed": _checked(body, "seed"),
        "min_tokens": min_tokens or None,
        "repetition_penalty": _checked(body, "repetition_penalty"),
        "presence_penalty": _checked(body, "presence_penalty"),
        "frequency_penalty": _checked(body, "frequency_penalty"),
        "stop": _stop(body),
        "speculative_draft_len": _draft_len(body),
    }


def _draft_len(body: dict) -> int | None:
    value = body.get("speculative_draft_len")
    try:
        return (
            None
            if value is None
            else SAMPLING_LIMITS["speculative_draft_len"].check("speculative_draft_len", value)
        )
    except InputError as exc:
        raise from_input_error(exc) from None


def _choices(body: dict) -> int:
    """OpenAI's n: that many answers, TensorRT-LLM's num_return_sequences (one Triton request whose
    sequences share the prompt's KV cache)."""
    n = body.get("n")
    try:
        return 1 if n is None else NUM_RETURN_SEQUENCES.check("n", n)
    except InputError as exc:
        raise from_input_error(exc) from None


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(f"{name}: must be a boolean, got {value!r}", name)
    return value


def _checked(body: dict, name: str, param: str | None = None):
    """The value of `param` (default `name`) for the ensemble input `name`, or None when unset."""
    param = param or name
    value = body.get(param)
    if value is None:
        return None
    try:
        return wire.checked(name, value, param)
    except InputError as exc:
        raise from_input_error(exc) from None


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(s for s in stop if s)
    raise invalid("stop: must be a string or a list of strings", "stop")


def _refuse_unsupported(body: dict, chat: bool) -> None:
    unknown = sorted(set(body) - (CHAT_PARAMS if chat else COMPLETION_PARAMS))
    if unknown:
        raise invalid(f"{unknown[0]}: unrecognized request argument", unknown[0])
    if body.get("best_of") not in (None, 1):
        raise invalid("best_of: only 1 is supported", "best_of")
    if body.get("suffix"):
        raise invalid("suffix: not supported by this server", "suffix")
    if not _flag(body, "skip_special_tokens", True):
        raise invalid(
            "skip_special_tokens: only true is supported (the detokenizer always drops special tokens)",
            "skip_special_tokens",
        )
