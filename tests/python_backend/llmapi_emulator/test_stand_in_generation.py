"""The stand-in's LLM on the real ONNX export: the LLM API's sampling rules, streaming, abort, stop and
bad tokens, logits, guides, stats, and the errors raised at submit. `trt` (conftest.py) is the stand-in."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

LIMITS = {
    "max_seq_len": 96,
    "max_batch_size": 4,
    "max_num_tokens": 64,
    "kv_cache_config": {"max_tokens": 384},
    "enable_iter_perf_stats": True,
}


def model_dir(root: Path, checkpoint: Path, onnx: Path) -> Path:
    """A checkpoint directory as the emulated repository lays it out: the HF files, and the ONNX export
    the stand-in runs linked at onnx/."""
    root.mkdir()
    for item in checkpoint.iterdir():
        (root / item.name).symlink_to(item.resolve())
    (root / "onnx").symlink_to(onnx.resolve())
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory, checkpoint_dir, onnx_fp32) -> Path:
    return model_dir(tmp_path_factory.mktemp("stand_in") / "checkpoint", checkpoint_dir, onnx_fp32)


@pytest.fixture(scope="module")
def llm(trt, model):
    with trt.LLM(
        model=str(model), skip_tokenizer_init=True, guided_decoding_backend="xgrammar", **LIMITS
    ) as llm:
        yield llm


@pytest.fixture(scope="module")
def prompt(tokenizer) -> list[int]:
    return tokenizer.encode("The capital of France is")


@pytest.fixture(scope="module")
def end(tokenizer) -> int:
    return tokenizer.eos_token_id


def collect(llm, prompt, params, streaming=False, abort_after=None):
    """(the finished result, each response's token_ids_diff)."""

    async def go():
        result = llm.generate_async(prompt, params, streaming=streaming)
        diffs = []
        async for out in result:
            diffs.append(list(out.outputs[0].token_ids_diff))
            if abort_after is not None and len(out.outputs[0].token_ids) >= abort_after:
                out.abort()
        return result, diffs

    return asyncio.run(go())


def tokens(llm, prompt, **params) -> list[int]:
    sampling = sys.modules["tensorrt_llm"].SamplingParams  # the stand-in the trt fixture imported
    result, _ = collect(llm, prompt, sampling(**params))
    return result.outputs[0].token_ids


def test_greedy_is_the_default_and_follows_the_greedy_rule(llm, prompt, end):
    greedy = tokens(llm, prompt, end_id=end, max_tokens=8)
    assert len(greedy) == 8
    # params_imply_greedy_decoding: temperature 0, top_k 1 or top_p 0.0 each make it greedy
    assert tokens(llm, prompt, end_id=end, max_tokens=8, temperature=0.0) == greedy
    assert tokens(llm, prompt, end_id=end, max_tokens=8, temperature=1.5, top_k=1) == greedy
    assert tokens(llm, prompt, end_id=end, max_tokens=8, temperature=1.5, top_p=0.0) == greedy


def test_unseeded_sampling_repeats_as_seed_zero(llm, prompt, end):
    # seed None means the runtime default 0: the same request samples the same tokens every time
    first = tokens(llm, prompt, end_id=end, max_tokens=8, temperature=1.0)
    assert tokens(llm, prompt, end_id=end, max_tokens=8, temperature=1.0) == first
    assert tokens(llm, prompt, end_id=end, max_tokens=8, temperature=1.0, seed=0) == first
    assert tokens(llm, prompt, end_id=end, max_tokens=8, temperature=1.0, seed=1) != first
    # unset temperature/top_k default to 1 and 0 once one of them is set (the docstring)
    assert tokens(llm, prompt, end_id=end, max_tokens=8, top_p=0.95) == tokens(
        llm, prompt, end_id=end, max_tokens=8, top_p=0.95, temperature=1.0, top_k=0
    )


def test_streaming_deltas_add_up_to_the_whole(trt, llm, prompt, end):
    params = trt.SamplingParams(end_id=end, max_tokens=10, logprobs=1, return_generation_logits=True)
    whole, _ = collect(llm, prompt, params)
    streamed, diffs = collect(llm, prompt, params, streaming=True)
    # stream_interval 1: a response per iteration, the last token riding on the final one
    assert diffs == [[t] for t in whole.outputs[0].token_ids]
    out = streamed.outputs[0]
    assert out.token_ids == whole.outputs[0].token_ids and out.finish_reason == "length"
    assert [list(d) for d in out.logprobs] == [[t] for t in out.token_ids]
    assert all(isinstance(v, trt.Logprob) and v.rank == 1 for d in out.logprobs for v in d.values())
    assert out.cumulative_logprob == pytest.approx(sum(v.logprob for d in out.logprobs for v in d.values()))
    assert streamed.finished and streamed.request_id != whole.request_id
    # generation logits: one row per token, however many responses brought them
    assert tuple(out.generation_logits.shape) == (10, 49152)
    assert out.generation_logits.argmax(dim=1).tolist() == out.token_ids


def test_stream_interval_and_a_tokenizer(trt, model, prompt, end, tokenizer):
    with trt.LLM(model=str(model), stream_interval=3, **LIMITS) as llm:
        _, diffs = collect(llm, prompt, trt.SamplingParams(end_id=end, max_tokens=10), streaming=True)
        # with a tokenizer (skip_tokenizer_init False): end_id defaults to its EOS, text prompts are
        # tokenized, stop strings matched and the output detokenized
        plain, _ = collect(llm, "The capital of France is", trt.SamplingParams(max_tokens=10))
        greedy = plain.outputs[0].token_ids
        k, word = next(
            (i, tokenizer.decode([t]))
            for i, t in enumerate(greedy)
            if i >= 2
            and t not in greedy[:i]
            and tokenizer.encode(tokenizer.decode([t]), add_special_tokens=False) == [t]
        )
        text, _ = collect(llm, "The capital of France is", trt.SamplingParams(max_tokens=10, stop=[word]))
        with pytest.raises(RuntimeError, match="^LLM is shutting down$"):
            llm.shutdown()
            llm.generate_async(prompt, trt.SamplingParams(end_id=end))
    # responses at iteration 1, every 3rd (3, 6, 9) and the final one (10)
    assert [len(d) for d in diffs] == [1, 2, 3, 3, 1]
    assert plain.sampling_params.end_id == end  # set on the caller's SamplingParams, as _setup does
    assert plain.outputs[0].text == tokenizer.decode(greedy)
    out = text.outputs[0]  # the stop string is matched, reported and cut, its text too
    assert (out.finish_reason, out.stop_reason, out.token_ids) == ("stop", word, greedy[:k])
    assert out.text == tokenizer.decode(greedy[:k])


def test_ngram_speculation_keeps_the_greedy_answer(trt, model, llm, end):
    repetitive = [28, 29, 30, 31] * 8
    greedy = tokens(llm, repetitive, end_id=end, max_tokens=8)
    spec = {"decoding_type": "NGram", "max_draft_len": 3, "max_matching_ngram_size": 2}
    with trt.LLM(model=str(model), skip_tokenizer_init=True, speculative_config=spec, **LIMITS) as drafting:
        result, _ = collect(
            drafting, repetitive, trt.SamplingParams(end_id=end, max_tokens=8, return_perf_metrics=True)
        )
    assert result.outputs[0].token_ids == greedy
    assert result.outputs[0].request_perf_metrics.speculative_decoding.total_draft_tokens > 0


def test_abort_cancels_the_sequence_in_the_engine(trt, llm, prompt, end):
    result, _ = collect(llm, prompt, trt.SamplingParams(end_id=end, max_tokens=80, ignore_eos=True), True, 3)
    assert result.outputs[0].finish_reason == "cancelled" and result.aborted()
    assert 3 <= len(result.outputs[0].token_ids) < 80
    deadline = time.monotonic() + 5
    while not llm._engine.idle and time.monotonic() < deadline:
        time.sleep(0.01)
    assert llm._engine.idle


def test_stop_end_and_bad_tokens(trt, llm, prompt, end):
    greedy = tokens(llm, prompt, end_id=end, max_tokens=8)
    k = next(i for i in range(2, 8) if greedy[i] not in greedy[:i])  # a first occurrence
    stop, _ = collect(llm, prompt, trt.SamplingParams(end_id=end, max_tokens=8, stop_token_ids=[greedy[k]]))
    out = stop.outputs[0]
    assert (out.finish_reason, out.stop_reason, out.token_ids) == ("stop", greedy[k], greedy[:k])
    kept = tokens(
        llm, prompt, end_id=end, max_tokens=8, stop_token_ids=[greedy[k]], include_stop_str_in_output=True
    )
    assert kept == greedy[: k + 1]
    ended, _ = collect(llm, prompt, trt.SamplingParams(end_id=greedy[k], max_tokens=8))
    assert (ended.outputs[0].finish_reason, ended.outputs[0].stop_reason) == ("stop", None)
    assert ended.outputs[0].token_ids == greedy[:k]
    assert tokens(llm, prompt, end_id=end, max_tokens=3, bad_token_ids=[greedy[0]])[0] != greedy[0]
    bias = [0.0] * 49152
    bias[1234] = 100.0
    assert tokens(llm, prompt, end_id=end, max_tokens=2, embedding_bias=bias) == [1234, 1234]


def test_prompt_in_output_logits_and_perf_metrics(trt, llm, prompt, end):
    result, _ = collect(
        llm,
        prompt,
        trt.SamplingParams(
            end_id=end,
            max_tokens=4,
            exclude_input_from_output=False,
            return_generation_logits=True,
            return_context_logits=True,
            return_perf_metrics=True,
        ),
    )
    out = result.outputs[0]
    assert out.token_ids[: len(prompt)] == prompt and len(out.token_ids) == len(prompt) + 4
    assert tuple(out.generation_logits.shape) == (4, 49152)
    assert out.generation_logits.argmax(dim=1).tolist() == out.token_ids[len(prompt) :]  # greedy
    assert tuple(result.context_logits.shape) == (len(prompt), 49152)
    perf = out.request_perf_metrics
    timing = perf.timing_metrics
    assert (
        timing.arrival_time
        <= timing.first_scheduled_time
        <= timing.first_token_time
        <= timing.last_token_time
    )
    assert perf.kv_cache_metrics.num_total_allocated_blocks == 1  # 10 tokens in one 32-token block
    assert perf.speculative_decoding.total_draft_tokens == 0


def test_n_sequences_and_clamped_max_tokens(trt, llm, prompt, end):
    result, _ = collect(llm, prompt, trt.SamplingParams(end_id=end, max_tokens=6, n=2, temperature=1.0))
    assert [o.index for o in result.outputs] == [0, 1]
    assert result.outputs[0].token_ids != result.outputs[1].token_ids
    # max_tokens past max_seq_len is cut to what fits (_deduce_max_tokens), finishing on length
    long_prompt = prompt * 10  # 60 tokens: 36 more fit max_seq_len 96
    long = tokens(llm, long_prompt, end_id=end, max_tokens=500, ignore_eos=True)
    assert len(long) == LIMITS["max_seq_len"] - len(long_prompt)


def test_errors_raised_at_submit(trt, llm, prompt, end):
    with pytest.raises(ValueError, match="^tokenizer is required to reset end_id if it is None"):
        llm.generate_async(prompt, trt.SamplingParams())
    with pytest.raises(
        trt.RequestError,
        match=r"^The sum of prompt length \(65\.0\), query length \(0\) "
        r"should not exceed max_num_tokens \(64\)$",
    ):
        llm.generate_async([5] * 65, trt.SamplingParams(end_id=end))
    with pytest.raises(TypeError, match="The inputs must be type str or list of int"):
        llm.generate_async([prompt], trt.SamplingParams(end_id=end))
    with pytest.raises(ValueError, match=r"^generate_async\(lora_request=\.\.\.\)"):
        llm.generate_async(prompt, trt.SamplingParams(end_id=end), lora_request=object())
    with pytest.raises(ValueError, match=r"^SamplingParams\.use_beam_search=True: not supported"):
        llm.generate_async(prompt, trt.SamplingParams(end_id=end, use_beam_search=True))
    with pytest.raises(ValueError, match=r"^SamplingParams\.min_p=0\.1: not supported"):
        llm.generate_async(prompt, trt.SamplingParams(end_id=end, min_p=0.1))
    # end_id -1 is "no end id" to the executor: the sequence runs to max_tokens
    assert len(tokens(llm, prompt, end_id=-1, max_tokens=5)) == 5


def test_a_bad_guide_fails_only_its_request(trt, llm, prompt, end, tokenizer):
    async def go():
        bad = llm.generate_async(
            prompt, trt.SamplingParams(end_id=end, guided_decoding=trt.GuidedDecodingParams(regex="("))
        )
        good = llm.generate_async(
            prompt,
            trt.SamplingParams(
                end_id=end, max_tokens=8, guided_decoding=trt.GuidedDecodingParams(regex="(yes|no)")
            ),
        )
        with pytest.raises(trt.RequestError, match="regex"):
            await bad.aresult()
        return await good.aresult()

    good = asyncio.run(go())
    assert tokenizer.decode(good.outputs[0].token_ids) in ("yes", "no")
    assert good.outputs[0].finish_reason == "stop"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    guided = trt.GuidedDecodingParams(json=schema)
    ask = tokenizer.encode('Give JSON with key "a" an integer: ')
    result, _ = collect(llm, ask, trt.SamplingParams(end_id=end, max_tokens=40, guided_decoding=guided))
    assert result.outputs[0].finish_reason == "stop"  # the schema completed: the end id was allowed
    assert isinstance(json.loads(tokenizer.decode(result.outputs[0].token_ids))["a"], int)


def test_iteration_stats_use_the_executors_keys(llm, prompt, end):
    time.sleep(0.2)  # an earlier test's last step is recorded just after its outputs went out
    llm.get_stats(0)  # forget earlier iterations
    tokens(llm, prompt, end_id=end, max_tokens=3)
    stats = llm.get_stats(2)
    # a step's stats are recorded after its outputs went out, so the last may come a moment later
    deadline = time.monotonic() + 5
    while len(stats) < 3 and time.monotonic() < deadline:
        stats += llm.get_stats(0.5)
    assert len(stats) >= 3 and [s["iter"] for s in stats] == sorted(s["iter"] for s in stats)
    first = stats[0]
    assert {"iter", "numActiveRequests", "maxNumActiveRequests", "numQueuedRequests", "cpuMemUsage"} <= set(
        first
    )
    assert set(first["kvCacheStats"]) >= {"maxNumBlocks", "freeNumBlocks", "usedNumBlocks", "tokensPerBlock"}
    prefills = [s["inflightBatchingStats"] for s in stats if s["inflightBatchingStats"]["numContextRequests"]]
    assert [p["numCtxTokens"] for p in prefills] == [len(prompt)]  # the prompt, in one context step
    assert first["maxNumActiveRequests"] == 4  # min(max_batch_size 4, 384 KV tokens // max_seq_len 96)
    assert sum(s["numNewActiveRequests"] for s in stats) == 1
    assert sum(s["numCompletedRequests"] for s in stats) == 1
