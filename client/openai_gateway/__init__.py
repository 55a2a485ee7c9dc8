"""An OpenAI-compatible HTTP API in front of the Triton ensemble (FastAPI + uvicorn, Triton gRPC behind).

    python -m client.openai_gateway --host 127.0.0.1 --port 9000 --triton-grpc localhost:8001 \\
        --tokenizer-dir build/model_repository/preprocessing/1/tokenizer

What it promises:
- `POST /v1/completions` and `POST /v1/chat/completions`, with `stream: true` as server-sent events
  ending in `data: [DONE]`; `GET /v1/models`; `GET /health/ready` (200 when Triton is ready);
  `GET /metrics` (Prometheus, triton_llm_gateway_*; open like /health/ready).
- Parameters: model (the served name: --served-model-name, default the checkpoint's name from the
  repository's manifest.json; the Triton model's name, "ensemble", is accepted too), max_tokens
  (default 16 for completions, 256 for chat, as OpenAI's defaults are unbounded), temperature
  and top_p (unset: OpenAI's defaults, 1 and 1, sent explicitly: sampled, unlike the ensemble's
  greedy default), stop (a string or a list; the stop text is not part
  of the answer, as with OpenAI), seed, n (1-16: one Triton request with num_return_sequences), echo
  (completions), prompt (completions: a string, token ids, or a list of up to 64 of either, sent as
  one batched Triton request, token ids as its input_token_ids), logit_bias ({token id: -100..100},
  added to the logits on every engine: token_params.py), stream_options.include_usage,
  response_format (structured.py), logprobs and top_logprobs (logprobs.py), tools / tool_choice /
  parallel_tool_calls (tools.py),
  presence/frequency penalties, and vLLM's extensions (top_k, min_tokens, ignore_eos,
  repetition_penalty, include_stop_str_in_output; pass them with the SDK's extra_body). Their limits
  are the request contract's (python_backend/contract/limits.py), as every edge states them; echo
  with logprobs scores the prompt (whole answers). Unsupported options (best_of > 1, suffix,
  more than one stop_token_ids, skip_special_tokens false, echo with logprobs when
  streaming) and parameters OpenAI does not define are refused with 400 rather than silently
  ignored; a body over --max-body-bytes (default 1 MiB) gets 413.
- `usage`: prompt_tokens counted with the model repository's tokenizer (`--tokenizer-dir`, the same
  files preprocessing uses, chat template included); completion_tokens is Triton's token_count.
- Errors are OpenAI error objects {"error": {"message", "type", "param", "code"}}: 400 for bad
  input (param names the field, also for errors Triton found; every JSON type checked, a prompt
  over the context refused in tokens), 404 for an unknown model or path, 405 for a wrong method,
  429 with Retry-After when Triton's engine queue is full, 503 when Triton cannot be reached, 504
  on the gateway's per-request timeout.
- LoRA adapters (--lora-dir, the adapter directory LORA_DIR): `"model": "<adapter>"` answers with
  that adapter, /v1/models lists each adapter with `parent` = the base model, an unknown model is a
  404 naming it (adapters.py). --allow-runtime-lora adds vLLM's POST /v1/load_lora_adapter and
  /v1/unload_lora_adapter, which register names in that directory (lora_admin.py, adapter_check.py).
- A client that disconnects (mid-stream, or while waiting for a non-streamed answer) has its Triton
  request cancelled (noticed at the next token, or within 0.5 s for a non-streamed answer).
  Binds to localhost unless --host says otherwise.

The package, by role: schema.py (the body's JSON read with limits, every parameter's JSON type),
context.py (the model's length limits from its repository; prompts over them refused), metrics.py
(GET /metrics and the middleware that measures requests), parsing.py (an OpenAI body → a `Call`:
what to send and how to answer), messages.py (the prompt: chat messages with tool turns, or the
completion prompts), token_params.py (logit_bias, token-id prompts, stop_token_ids), tools.py
(tools and tool_choice → the system message and the grammar),
tool_calls.py (tool calls read out of a streamed answer), logprobs.py and structured.py (the
log-prob and response_format parameters), answers.py (OpenAI's response shapes, stop trimming,
prompt-token counting), choices.py (one streamed choice's state, one per answer when n > 1),
errors.py (OpenAI error objects, and Triton's errors mapped to them), config.py (the settings),
adapters.py (the base model and the adapters a request may name), lora_admin.py with
adapter_check.py (adapters registered while serving), gateway.py (one request end to
end: parse, call Triton, answer), access.py (API keys and rate limits), routes.py (the FastAPI app
and its routes), __main__.py (the command line, TLS).
Only gateway.py, routes.py, lora_admin.py and __main__.py need fastapi/uvicorn
(`pip install -e ".[gateway]"`).
"""
