"""LLM: the stand-in for TensorRT-LLM 1.2.1's `tensorrt_llm.LLM` (PyTorch backend) over the CPU engine.

Upstream: NVIDIA/TensorRT-LLM gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/llmapi/llm.html. LLM(**kwargs) validates the kwargs as TorchLlmArgs
(extra="forbid"); generate_async(inputs, sampling_params, ..., streaming) raises at submit, in
this order (submission.py): "LLM is shutting down"; sampling_params not a SamplingParams, or its
end_id None without a tokenizer (_prepare_sampling_params); a prompt that is not one token list
(TypeError); a prompt longer than max_num_tokens with chunked prefill off (RequestError,
_check_arguments); a context that leaves no room for a token (RequestError, the worker's
_deduce_max_tokens, which also cuts a max_tokens past max_seq_len to what fits); a SamplingParams
field or generate_async argument the stand-in cannot serve (ValueError naming it). What the engine
refuses after that (a token id out of the
vocabulary, a guide that does not compile) becomes that request's error: RequestError raised when
its result is awaited, never a failed batch. The CPU engine runs on its own thread (engine_setup.py
says what it is built from); results are delivered to the caller's asyncio loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from python_backend.engine.llm_engine import LLMEngine, QueueFullError
from python_backend.engine.lora_weights import LoraSpec
from python_backend.engine.runner import ExportShape

from ..executor.responses import SequenceStream
from ..executor.result import RequestError, RequestOutput
from ..executor.stats import IterationStatsRecorder
from . import engine_setup, lora, submission
from .llm_args import TorchLlmArgs

SHUTTING_DOWN = "LLM is shutting down"
# generate_async's parameters the stand-in cannot honour are refused by name when given.
UNSERVED = "not supported by the CPU stand-in of the LLM API"


class LLM:
    """LLM(model=<HF checkpoint dir>, **TorchLlmArgs fields). The real LLM loads the checkpoint's
    safetensors; this stand-in runs the ONNX export linked beside them at <model>/onnx."""

    def __init__(
        self,
        model,
        tokenizer=None,
        tokenizer_mode="auto",
        skip_tokenizer_init: bool = False,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        revision=None,
        tokenizer_revision=None,
        **kwargs,
    ):
        # _TorchLLM.__init__'s parameters, in its order (1.2.1 llm.html); all become TorchLlmArgs
        self.args = TorchLlmArgs(
            model=model,
            tokenizer=tokenizer,
            tokenizer_mode=tokenizer_mode,
            skip_tokenizer_init=skip_tokenizer_init,
            trust_remote_code=trust_remote_code,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            revision=revision,
            tokenizer_revision=tokenizer_revision,
            **kwargs,
        )
        engine_setup.refuse(self.args)
        onnx = engine_setup.onnx_dir(self.args.model)
        config = engine_setup.engine_config(self.args, ExportShape.from_genai_config(onnx), self.args.model)
        targets = None
        if lora.enabled(self.args):  # checked before the engine starts: its error would be less clear
            targets = lora.target_modules(self.args.lora_config, LoraSpec.read(onnx), onnx)
        self.tokenizer = engine_setup.tokenizer_for(self.args)
        info_path, self._scratch = engine_setup.guide_info(self.args, self.tokenizer)
        self._stats = IterationStatsRecorder(
            enabled=self.args.enable_iter_perf_stats,
            max_len=self.args.max_stats_len,
            tokens_per_block=self.args.kv_cache_config.tokens_per_block,
            max_num_tokens=config.max_num_batched_tokens,
        )
        guided = {"tokenizer_info_path": info_path} if info_path else {}
        self._engine = LLMEngine(config, onnx, step_observer=self._stats.observe, **guided)
        self._stats.engine = self._engine
        self._adapters = (
            None if targets is None else lora.AdapterCache(self._engine, self.args.lora_config, targets)
        )
        self._engine.start()
        self._ids = itertools.count(1)
        self._shutting_down = False

    # -- requests --------------------------------------------------------------------------------
    def generate_async(
        self,
        inputs,
        sampling_params=None,
        lora_request=None,
        prompt_adapter_request=None,
        streaming: bool = False,
        kv_cache_retention_config=None,
        disaggregated_params=None,
        trace_headers=None,
        _postproc_params=None,
        scheduling_params=None,
        cache_salt=None,
    ) -> RequestOutput:
        """Submit one prompt (token ids, {"prompt_token_ids": [...]}, or text with a tokenizer).
        Upstream's signature; trace_headers only label traces, so they are accepted and unused."""
        if self._shutting_down:
            raise RuntimeError(SHUTTING_DOWN)
        if lora_request is not None and self._adapters is None:
            raise ValueError(lora.LORA_OFF)
        unserved = {
            "prompt_adapter_request": prompt_adapter_request,
            "kv_cache_retention_config": kv_cache_retention_config,
            "disaggregated_params": disaggregated_params,
            "_postproc_params": _postproc_params,
            "scheduling_params": scheduling_params,
            "cache_salt": cache_salt,
        }
        for name, value in unserved.items():
            if value is not None:
                raise ValueError(f"generate_async({name}=...): {UNSERVED}")
        params = submission.prepare_sampling_params(sampling_params, self.tokenizer)
        prompt = submission.prompt_ids(inputs, params, self.tokenizer)
        submission.check_arguments(self.args, prompt)
        max_tokens = submission.deduce_max_tokens(prompt, params, self._engine.config.max_seq_len)
        stops = submission.stop_words(params, self.tokenizer)
        request_id = next(self._ids)
        engine_ids = [f"{request_id}#{i}" for i in range(params.best_of)]
        result = RequestOutput(
            request_id=request_id,
            prompt_token_ids=prompt,
            sampling_params=params,
            abort=lambda: [self._engine.cancel(e) for e in engine_ids],
            loop=_running_loop(),
        )
        result._stop_words = stops
        result._tokenizer = self.tokenizer if params.detokenize else None
        try:
            from ..executor.to_engine import engine_params

            engine = engine_params(
                params,
                lora_name=None if lora_request is None else self._adapters.engine_name(lora_request),
                max_tokens=max_tokens,
                stop_words=[ids for _, ids in stops],
                bad_words=submission.words(params, "bad", params.bad_token_ids, self.tokenizer),
                guided=self.args.guided_decoding_backend is not None,
            )
            members = [
                (engine_id, p, self._callback(result, i, prompt, params, streaming))
                for i, (engine_id, p) in enumerate(zip(engine_ids, engine, strict=True))
            ]
            self._engine.submit_batch([(prompt, members)])
        except (RequestError, QueueFullError) as exc:
            result.deliver(RequestError(str(exc)))
        except ValueError as exc:
            if UNSERVED in str(exc):
                raise
            result.deliver(RequestError(str(exc)))  # the engine refused it: this request's error
        return result

    def _callback(self, result: RequestOutput, index: int, prompt: list[int], params, streaming: bool):
        stream = SequenceStream(
            index=index,
            prompt=prompt,
            streaming=streaming,
            stream_interval=self.args.stream_interval,
            exclude_input=params.exclude_input_from_output,
            perf=params.return_perf_metrics or self.args.return_perf_metrics,
            tokens_per_block=self.args.kv_cache_config.tokens_per_block,
            arrival_ns=time.monotonic_ns(),
        )

        def on_output(out) -> bool:
            update = stream.on_output(out)
            if isinstance(update, RequestError) and self._engine.error is not None:
                update = RequestError(f"{update}: {self._engine.error!r}")
            if update is not None:
                result.deliver(update)
            return True  # cancellation comes from abort(), as in the executor

        return on_output

    # -- the rest of the surface ---------------------------------------------------------------------
    def get_stats(self, timeout: float = 2) -> list[dict]:
        """Iteration stats since the last call (needs enable_iter_perf_stats=True)."""
        return self._stats.drain(timeout)

    def shutdown(self) -> None:
        self._shutting_down = True
        self._engine.shutdown()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
