"""One OpenAI request end to end: read the body, parse it into a Call, ask Triton, shape the answer."""

from __future__ import annotations

import asyncio
import time

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..aio import AsyncLLMClient
from ..errors import ServerError
from ..retry import RetryPolicy
from . import answers, logprobs
from .adapters import InFlight
from .choices import ChoiceStream
from .config import GatewayConfig
from .context import ModelLimits, admit
from .errors import OpenAIError, from_server_error, invalid
from .parsing import Call, parse_call
from .schema import check_max_tokens, check_types, read_json

DRAIN_LIMIT_BYTES = 64 << 20  # past this an oversized upload is cut off rather than read to its end


class Gateway:
    """What every route shares: the config, one AsyncLLMClient to Triton, the prompt-token counter."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self.counter = answers.PromptCounter(config.tokenizer_dir)
        self.limits = ModelLimits.beside(config.tokenizer_dir)  # the model's context, from its repository
        self.client = AsyncLLMClient(
            config.triton_grpc,
            "grpc",
            timeout_s=config.timeout_s,
            model=config.triton_model,
            # Retry only what never reached the engine; an overload goes back to
            # the caller as 429 + Retry-After (OpenAI clients back off on that).
            retry=RetryPolicy(attempts=3, backoff_s=0.2, retry_overloaded=False),
            tls=config.triton_tls,
        )
        self.created = int(time.time())
        self.in_flight = InFlight()  # requests per adapter, which /v1/unload_lora_adapter waits out

    async def close(self) -> None:
        await self.client.aclose()

    async def answer(self, request: Request, chat: bool):
        """/v1/completions (chat=False) and /v1/chat/completions (chat=True)."""
        raw = await read_bounded(request, self.config.max_body_bytes)
        body = read_json(raw)
        check_types(body, chat)
        check_max_tokens(body, self.limits.max_seq_len)
        call = parse_call(body, chat, self.config.models)
        await asyncio.to_thread(admit, self.limits, self.counter, body, call)
        if (call.top_logprobs or call.request.prompt_logits) and self.counter.tokenizer is None:
            param = "top_logprobs" if chat else "logprobs"
            raise invalid(
                f"{param}: alternatives and prompt log probs need the tokenizer; start the gateway with "
                "--tokenizer-dir",
                param,
            )
        if call.echo and call.token_prompts and self.counter.tokenizer is None:
            raise invalid(
                "echo: a token-id prompt is echoed as its text, which needs the tokenizer; start the "
                "gateway with --tokenizer-dir",
                "echo",
            )
        return await (self._stream(request, call) if call.stream else self._whole(request, call))

    def _prompt_tokens_logprobs(self, call: Call, rows) -> answers.Tokens | None:
        if not call.request.prompt_logits:
            return None
        ids = call.request.prompt_token_ids or self.counter.tokenizer.encode(
            call.prompt_text, add_special_tokens=True
        )  # as preprocessing
        if rows is None or len(rows) != len(ids):
            raise OpenAIError(
                502,
                f"Triton returned {0 if rows is None else len(rows)} prompt logit rows for "
                f"{len(ids)} prompt tokens",
                type_="server_error",
                param="echo",
            )
        return logprobs.prompt_tokens(ids, rows, call.top_logprobs, self._decode)

    def _decode(self, token_id: int) -> str:
        return self.counter.tokenizer.decode([token_id])

    def _decode_ids(self, ids: tuple[int, ...]) -> str:
        """An echoed token prompt's text (special tokens kept: they are part of the prompt)."""
        return self.counter.tokenizer.decode(list(ids))

    async def _prompt_tokens(self, call: Call) -> int:
        return await asyncio.to_thread(self.counter.count, call)

    async def _whole(self, request: Request, call: Call):
        calls = call.per_prompt(self._decode_ids)
        try:
            # Streamed underneath: Triton 2.51's ensemble never cancels its running engine step, and the
            # engine hears of a cancelled request only through the postprocessing step of its next
            # token (ARCHITECTURE.md). Non-streamed, that step comes at the very end, so a client that
            # went away kept its request generating up to max_tokens and held up every SIGTERM drain.
            with self.in_flight.hold(call.request.lora_name):
                results = await _until_disconnected(request, self._results(calls))
        except ServerError as exc:
            raise from_server_error(exc, call.prompt_param) from None
        if results is None:  # the client went away; its Triton request was cancelled
            return JSONResponse({}, status_code=499)
        n = call.request.num_return_sequences  # OpenAI numbers prompt i's answer j i * n + j
        choices = []
        for i, (one, result) in enumerate(zip(calls, results, strict=True)):
            choices += self._choices(one, result, i * n)
        prompt_tokens = sum([await self._prompt_tokens(one) for one in calls])
        return answers.completion(
            call,
            answers.completion_id(call.chat),
            int(time.time()),
            choices,
            usage=answers.usage(
                prompt_tokens,
                sum(r.output_tokens for r in results),
                _cached([r.cached_tokens for r in results]),
            ),
        )

    async def _results(self, calls: list[Call]) -> list:
        """Each call's GenerationResult: a prompt list goes as one batched Triton request."""
        if len(calls) > 1:
            return await self.client.generate_batch([one.request for one in calls])
        return [await self.client.generate(calls[0].request, stream=True)]

    def _choices(self, call: Call, result, first_index: int) -> list[dict]:
        """The choices of one prompt's answers (sequences: n > 1), numbered from first_index."""
        choices = []
        for index, sequence in enumerate(result.sequences or [result], start=first_index):
            text = answers.StopTrimmer(call.trimmed_stop)
            answer = text.feed(sequence.text) + text.finish(sequence.finish_reason == "stop")
            if call.echo:
                answer = call.prompt_text + answer
            tops = (
                logprobs.alternatives(sequence.logits, call.top_logprobs, self._decode)
                if call.top_logprobs
                else []
            )
            choices.append(
                answers.choice(
                    call,
                    answer,
                    sequence.finish_reason,
                    tokens=(sequence.token_texts, sequence.log_probs, tops),
                    index=index,
                    prompt=self._prompt_tokens_logprobs(call, result.prompt_logits),
                )
            )
        return choices

    async def _stream(self, request: Request, call: Call):
        calls = call.per_prompt(self._decode_ids)
        if len(calls) > 1:  # a prompt list: one batched Triton request
            chunks = self.client.batch_events([one.request for one in calls])
        else:
            chunks = self.client.events(call.request, stream=True)
        chunks = self.in_flight.stream(call.request.lora_name, chunks)
        n = call.request.num_return_sequences
        # The first response decides the status: an error before any text is a proper HTTP error.
        try:
            first = await _next(chunks)
        except ServerError as exc:
            await chunks.aclose()
            raise from_server_error(exc, call.prompt_param) from None
        except BaseException:
            await chunks.aclose()
            raise
        ident = answers.completion_id(call.chat)
        created = int(time.time())

        def event(choices: list, **extra) -> str:
            return answers.sse(answers.completion(call, ident, created, choices, **extra))

        async def body():
            choices = [
                ChoiceStream(one, i * n + j, self._decode) for i, one in enumerate(calls) for j in range(n)
            ]
            try:
                if call.chat:
                    yield event([answers.delta(call, "", None, first=True, index=c.index) for c in choices])
                elif call.echo:
                    yield event(
                        [answers.delta(c.call, c.call.prompt_text, None, index=c.index) for c in choices]
                    )
                pending = [first] if first is not None else []
                while True:
                    chunk = pending.pop() if pending else await _next(chunks)
                    if chunk is None:
                        break
                    if await request.is_disconnected():
                        return  # finally cancels the Triton request
                    for part in choices[chunk.batch_index * n + chunk.sequence_index].feed(chunk):
                        yield event([part])
                for choice in choices:
                    for part in choice.finish():
                        yield event([part])
                if call.include_usage:  # a prompt is computed once, by its first sequence: its cache hits
                    prompt_tokens = sum([await self._prompt_tokens(one) for one in calls])
                    cached = _cached([c.cached for c in choices[::n]])
                    yield event(
                        [], usage=answers.usage(prompt_tokens, sum(c.tokens for c in choices), cached)
                    )
            except ServerError as exc:  # after the 200 went out: report in-band, as OpenAI does
                yield answers.sse(from_server_error(exc, call.prompt_param).body())
            finally:
                await chunks.aclose()
            yield answers.sse("[DONE]")

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, or 413 once it is known to exceed `limit` (from Content-Length or while reading).

    An oversized body is never held in memory, but it is read to its end (discarded, up to
    DRAIN_LIMIT_BYTES) before the 413 goes out: a client still sending when the server answers and
    closes gets a broken pipe instead of the error (seen with urllib on a 3 MB body)."""
    declared = request.headers.get("content-length", "")
    oversized = declared.isdigit() and int(declared) > limit
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        oversized = oversized or size > limit
        if size > DRAIN_LIMIT_BYTES:
            break
        if not oversized:
            chunks.append(chunk)
    if oversized:
        shown = declared if declared.isdigit() else f"more than {limit}"
        raise OpenAIError(
            413,
            f"the request body is {shown} bytes; the limit is {limit}",
            type_="invalid_request_error",
            code="request_too_large",
        )
    return b"".join(chunks)


def _cached(counts: list[int | None]) -> int | None:
    """The prompts' cached tokens together; None when the server reported none."""
    return None if all(c is None for c in counts) else sum(c or 0 for c in counts)


async def _next(chunks):
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


async def _until_disconnected(request, awaitable, poll_s: float = 0.5):
    """Await `awaitable`, but cancel it (and so its Triton request) if the HTTP client goes away;
    then None."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return None
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
