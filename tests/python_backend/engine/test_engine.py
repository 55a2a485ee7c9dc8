"""The CPU engine on the real exported model, without Triton."""

import threading

import pytest

from build_engines import manifest
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine, QueueFullError
from python_backend.engine.sequence import FinishReason, SamplingParams

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a land far away, there lived",
    "List three colors:",
    "Water boils at",
    "The quick brown fox",
]


@pytest.fixture(scope="module")
def engine(onnx_fp32):
    eng = LLMEngine(
        EngineConfig(
            max_num_seqs=4,
            max_num_batched_tokens=16,
            max_seq_len=256,
            max_queue_size=32,
            min_prefix_reuse=4,
        ),
        onnx_fp32,
    ).start()
    yield eng
    eng.shutdown()


def encode(tokenizer, text):
    return tokenizer.encode(text)


def run_concurrently(engine, requests):
    """Submit all at once; return {request_id: (tokens, reason)}."""
    results, done = {}, threading.Event()

    def collector(rid):
        tokens = []

        def cb(out):
            tokens.extend(out.new_token_ids)
            if out.finished:
                results[rid] = (tokens, out.finish_reason)
                if len(results) == len(requests):
                    done.set()

        return cb

    for rid, ids, params in requests:
        engine.submit(rid, ids, params, collector(rid))
    assert done.wait(120)
    return results


def test_exports_carry_quality_reports(onnx_fp32, onnx_int8):
    fp32, int8 = manifest.read(onnx_fp32), manifest.read(onnx_int8)
    assert fp32["quality"]["greedy_identical_prompts"] == fp32["quality"]["greedy_prompts"]
    # Issue 16's INT8 bar (recipes.INT8_BARS): the export gate already refuses less; this checks it
    # was measured.
    assert int8["quality"]["top1_agreement"] >= 0.97 and int8["quality"]["perplexity_increase"] <= 0.01
    assert int8["quality"]["correct_answers"] >= 0.9 * int8["quality"]["questions"] > 0
    assert int8["recipe"]["block_size"] == 16 and int8["recipe"]["keep_fp32"] == ["lm_head"]
    assert {"checkpoint_sha256", "opset", "tools", "precision"} <= set(fp32)


def test_in_flight_batching_does_not_change_greedy_results(engine, tokenizer):
    # More requests than slots and a small token budget: requests join and leave mid-flight,
    # long prompts are prefilled in chunks; each result must equal the request run alone.
    params = SamplingParams(max_tokens=24, end_ids=(2,))
    alone = {str(i): engine.generate(encode(tokenizer, p), params)[0] for i, p in enumerate(PROMPTS)}
    together = run_concurrently(
        engine, [(str(i), encode(tokenizer, p), params) for i, p in enumerate(PROMPTS)]
    )
    assert {rid: tokens for rid, (tokens, _) in together.items()} == alone
    assert engine.stats()["slots_used"] == 0 and engine.stats()["active_requests"] == 0


def test_seeded_sampling_is_reproducible_within_a_batch(engine, tokenizer):
    ids = encode(tokenizer, "Tell me a story about a dragon.")
    params = SamplingParams(max_tokens=16, temperature=1.0, top_p=0.9, seed=1234)
    other = SamplingParams(max_tokens=16, temperature=1.0, seed=99)
    first = run_concurrently(engine, [("a", ids, params), ("x", ids, other)])
    second = run_concurrently(engine, [("b", ids, params)])
    assert first["a"][0] == second["b"][0]


def test_stop_sequences_and_min_tokens(engine, tokenizer):
    ids = encode(tokenizer, "The capital of France is")
    free, _ = engine.generate(ids, SamplingParams(max_tokens=12, end_ids=(2,)))
    stop = tuple(free[2:4])
    tokens, reason = engine.generate(ids, SamplingParams(max_tokens=12, stop_sequences=(stop,)))
    assert reason is FinishReason.STOP and tokens == free[:4]
    # min_tokens holds back the end id: with end_id = the first greedy token, nothing could be
    # generated without it.
    tokens, reason = engine.generate(ids, SamplingParams(max_tokens=5, min_tokens=5, end_ids=(free[0],)))
    assert len(tokens) == 5 and reason is FinishReason.LENGTH


def test_prefix_cache_hits_are_counted_and_exact(engine, tokenizer):
    system = "You are a careful assistant. Answer in one short sentence. " * 3
    params = SamplingParams(max_tokens=8, end_ids=(2,))
    before = engine.stats()["prefix_cache_hit_tokens"]
    cold, _ = engine.generate(encode(tokenizer, system + "Q: What is 2+2?"), params)
    warm, _ = engine.generate(encode(tokenizer, system + "Q: What is 2+2?"), params)
    assert engine.stats()["prefix_cache_hit_tokens"] - before >= len(encode(tokenizer, system)) - 1
    assert warm == cold


def test_cancellation_frees_slots_and_1000_cancels_leak_nothing(engine, tokenizer):
    ids = encode(tokenizer, "Count from one to one hundred:")
    params = SamplingParams(max_tokens=200)
    for batch in range(40):  # 40 × 25 = 1,000 cancelled requests
        reasons = _cancel_batch(engine, ids, params, batch, 25)
        assert reasons == [FinishReason.CANCELLED] * 25
    stats = engine.stats()
    assert stats["slots_used"] == 0 and stats["active_requests"] == 0 and stats["running"] == 0


def _cancel_batch(engine, ids, params, batch, n):
    """Submit n requests whose callback cancels them at their first token; wait for all to end."""
    finished, reasons = threading.Event(), []

    def cb(out):
        if out.finished:
            reasons.append(out.finish_reason)
            if len(reasons) == n:
                finished.set()
        return out.finished  # returning False cancels: the client went away

    for i in range(n):
        engine.submit(f"c{batch}-{i}", ids, params, cb)
    assert finished.wait(60)
    return reasons


def test_queue_full_rejects_and_bad_requests_raise(onnx_fp32, tokenizer):
    eng = LLMEngine(
        EngineConfig(max_num_seqs=1, max_num_batched_tokens=8, max_seq_len=32, max_queue_size=1),
        onnx_fp32,
    )  # not started: nothing drains the queue
    eng._thread = threading.current_thread()  # lets submit() treat it as running
    ids = encode(tokenizer, "hello")
    eng.submit("a", ids, SamplingParams(max_tokens=4), lambda out: None)
    with pytest.raises(QueueFullError):
        eng.submit("b", ids, SamplingParams(max_tokens=4), lambda out: None)
    with pytest.raises(ValueError, match="exceed max_seq_len 32"):
        eng.validate(ids, SamplingParams(max_tokens=32))
    with pytest.raises(ValueError, match="out of range"):
        eng.validate([10**6], SamplingParams(max_tokens=1))


def _run_siblings(engine, rid, ids, params_list):
    results, done = {}, threading.Event()

    def collector(sid):
        tokens = []

        def cb(out):
            tokens.extend(out.new_token_ids)
            if out.finished:
                results[sid] = (tokens, out.num_cached_tokens)
                if len(results) == len(params_list):
                    done.set()

        return cb

    engine.submit_batch([(ids, [(f"{rid}/{i}", p, collector(i)) for i, p in enumerate(params_list)])])
    assert done.wait(120)
    return [results[i] for i in range(len(params_list))]


def test_sibling_sequences_share_the_prompt_and_match_single_requests(engine, tokenizer):
    # num_return_sequences: the siblings copy the first one's prompt KV, and each answer equals
    # the same request run alone (greedy: identical; seeded: sibling i with seed + i).
    ids = encode(tokenizer, "Write one sentence about the sea, the wind and the boats.")
    greedy = SamplingParams(max_tokens=12, end_ids=(2,))
    alone, _ = engine.generate(ids, greedy)
    answers = _run_siblings(engine, "g", ids, [greedy] * 3)
    assert [tokens for tokens, _ in answers] == [alone] * 3
    assert [cached for _, cached in answers[1:]] == [len(ids) - 1] * 2
    seeded = [SamplingParams(max_tokens=12, temperature=1.0, seed=40 + i) for i in range(3)]
    together = [tokens for tokens, _ in _run_siblings(engine, "s", ids, seeded)]
    assert together == [engine.generate(ids, p)[0] for p in seeded]
    assert len({tuple(t) for t in together}) > 1


def test_a_request_with_more_sequences_than_the_queue_holds_is_refused_as_invalid(engine, tokenizer):
    # Not "queue full, retry later": even an idle engine could never admit it, all or none.
    ids = encode(tokenizer, "Hello")
    prompts = [
        (ids, [(f"big[{b}]/{i}", SamplingParams(max_tokens=2), lambda out: None) for i in range(11)])
        for b in range(3)
    ]
    with pytest.raises(ValueError, match=r"33 sequences in one request .* at most 32"):
        engine.submit_batch(prompts)
    assert engine.idle


def test_stream_interval_changes_the_framing_not_the_tokens(engine, tokenizer):
    """The real engine streaming through the Triton adapter's response side, with a stand-in for
    Triton's response sender: larger responses, the same tokens."""
    from python_backend.triton_io.responses import ResponseStream, ResponseWriter, StreamSettings

    class Histogram:
        def observe(self, value):
            pass

    class Responses:
        final_flag = 1
        ttft = itl = Histogram()  # doubles as the latency metrics

        @staticmethod
        def data(tensors):
            return tensors["output_ids"].reshape(-1).tolist()

    class Sender:
        def __init__(self):
            self.responses, self.done = [], threading.Event()

        def send(self, response=None, flags=0):
            self.responses.append(response)
            if flags:
                self.done.set()

        def is_cancelled(self):
            return False

    writer, ids = ResponseWriter(), encode(tokenizer, PROMPTS[2])
    framings = {}
    for interval in (1, 4):
        sender = Sender()
        stream = ResponseStream(
            sender,
            StreamSettings(Responses(), Responses(), vocab_size=0, stream_interval=interval),
            streaming=True,
            prefix_ids=[],
            arrival_ns=interval,
            on_finished=lambda _: None,
        )
        engine.submit(
            f"interval-{interval}",
            ids,
            SamplingParams(max_tokens=21, min_tokens=21),
            stream.engine_callback(writer),
        )
        assert sender.done.wait(120)
        framings[interval] = sender.responses
    writer.close()
    one, four = framings[1], framings[4]
    assert sum(one, []) == sum(four, []) and len(sum(one, [])) == 21
    assert [len(r) for r in one] == [1] * 21 + [0]  # one per token, then the empty final one
    assert [len(r) for r in four] == [1, 4, 4, 4, 4, 4, 0]


def test_each_token_output_says_how_many_sequences_got_tokens_in_its_step(engine, tokenizer):
    """step_batch, what "auto" framing coalesces by (triton_io/stream_framing.py): a request alone
    gets 1 in every output; four decoding together (the engine's 4 slots) get 4 while all four run,
    and never more than the slots; a final output without tokens carries 0."""
    seen: dict[str, list[tuple[int, bool]]] = {}
    done = threading.Event()

    def submit(rid, prompt, wanted):
        def cb(out):
            seen.setdefault(rid, []).append((out.step_batch, bool(out.new_token_ids)))
            if sum(1 for outs in seen.values() if outs[-1][0] == 0 and not outs[-1][1]) == wanted:
                done.set()

        engine.submit(rid, encode(tokenizer, prompt), SamplingParams(max_tokens=12, min_tokens=12), cb)

    submit("alone", PROMPTS[0], 1)
    assert done.wait(120)
    assert [batch for batch, tokens in seen.pop("alone") if tokens] == [1] * 12
    done.clear()
    for i in range(4):
        submit(f"together-{i}", PROMPTS[i + 1], 4)
    assert done.wait(120)
    batches = [batch for outs in seen.values() for batch, tokens in outs if tokens]
    assert len(batches) == 48 and max(batches) == 4 and min(batches) >= 1
    assert all(outs[-1] == (0, False) for outs in seen.values())
