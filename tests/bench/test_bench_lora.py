"""bench/lora.py's rows are wired as the issue asks (not their timing): 16 streams of which 4 ask for the
base model and 12 for 4 adapters in equal shares, each adapter request naming its adapter in the ensemble's
`lora_name`, four real PEFT adapters made from the bundled model, the three workloads of each set taking
turns round by round, every round of every row on prompts of its own (the same prompts, tagged apart), the
engine set run through the engine, and the ratios between the rows."""

import json

import tritonclient.grpc as grpcclient

from bench import lora, report, workload
from bench.stats import Sample
from client import wire
from python_backend.contract.adapter_dir import AdapterDirectory
from python_backend.text.tokenizer import Preprocessor

NAMES = ["a", "b", "c", "d"]


def test_mix_is_a_quarter_base_and_equal_shares_per_adapter():
    mixed = lora.mix(16, NAMES)
    # Streams 0, 4, 8 and 12 ask for the base model; the 12 others cycle through the 4 adapters.
    assert [i for i, name in enumerate(mixed) if name is None] == [0, 4, 8, 12]
    assert mixed == [None, "a", "b", "c", None, "d", "a", "b", None, "c", "d", "a", None, "b", "c", "d"]
    # Request i is stream i % 16's: every round of 16 has the same mix.
    assert lora.mix(48, NAMES) == mixed * 3


def test_each_mixed_request_names_its_adapter_and_base_requests_send_none():
    names = lora.mix(16, NAMES)
    sent = []
    for values in lora.lora_inputs(names):
        # As runners.triton_streams composes a request: the shared inputs, then the request's own.
        inputs = wire.grpc_inputs(grpcclient, {"text_input": "Hi", "max_tokens": 4, **values})
        tensor = next((t for t in inputs if t.name() == "lora_name"), None)
        if tensor is None:
            sent.append(None)
        else:
            assert (tensor.datatype(), tensor.shape()) == ("BYTES", [1, 1])
            # A BYTES tensor's raw content: each element as a 4-byte length, then its bytes.
            sent.append(tensor._get_content()[4:].decode())
    # A base-model request sends no lora_name input at all (the ensemble's input is optional); every
    # other request names its own adapter, as the mix gave it.
    assert sent == names


def test_interleaved_rounds_take_turns_and_sum_per_workload():
    calls = []

    def workload(name, seconds):
        def run(batch, key):
            calls.append((name, batch.start, batch.stop, key))
            # One sample per request of the round, each 2 tokens: the row counts what its rounds ran.
            return [Sample(0.1, 0.3, 2) for _ in range(*batch.indices(40))], seconds

        return run

    workloads = {"p": workload("p", 1.0), "b": workload("b", 2.0), "m": workload("m", 4.0)}
    rows = lora.interleave(workloads, 40, first_key=3)
    # 40 requests: rounds [0, 16), [16, 32), [32, 40); each round starts with the next workload. Each
    # (round, workload) has its own prompt key, from 3 up (0 to 2 are triton_rows' warm-up's), numbered
    # by the workloads' fixed order, not by their turn.
    assert calls == [
        ("p", 0, 16, 3), ("b", 0, 16, 4), ("m", 0, 16, 5),
        ("b", 16, 32, 7), ("m", 16, 32, 8), ("p", 16, 32, 6),
        ("m", 32, 48, 11), ("p", 32, 48, 9), ("b", 32, 48, 10),
    ]  # fmt: skip
    assert [(r["engine"], r["requests"], r["output_tokens"], r["wall_s"]) for r in rows] == [
        ("p", 40, 80, 3.0),
        ("b", 40, 80, 6.0),
        ("m", 40, 80, 12.0),
    ]
    assert rows[0]["output_tok_s"] == round(80 / 3.0, 2)


def render(tokenizer, text):
    """`text` as python -m bench sends it to the engine: a user message rendered by the chat template."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True, return_dict=False
    )


def test_tagged_prompts_are_new_to_every_round_and_row_with_the_same_token_counts(tokenizer):
    texts = workload.prompts(16)
    # Keys 0 to 11: a warm-up's 3 and 3 rounds of 3 rows, as triton_rows gives them on the full plan.
    keyed = {key: [workload.tagged(t, key) for t in texts] for key in range(12)}
    everything = [p for prompts in keyed.values() for p in prompts]
    # No prompt is sent twice: not in another round, not in another row of the same round.
    assert len(set(everything)) == 12 * 16
    for key, prompts in keyed.items():
        # The same prompts in every round and row, the message opening with the key's tag.
        assert prompts == [f"Set {key:04d}:\n{t}" for t in texts]
        tokens = [len(render(tokenizer, p)) for p in prompts]
        # 8 tokens more than the untagged prompt whatever the key: "Set", " ", 4 digits, ":", "\n".
        assert tokens == [len(render(tokenizer, t)) + 8 for t in texts]


def test_a_rendered_prompt_is_tagged_in_its_user_message_as_its_text_would_be(checkpoint_dir, tokenizer):
    text = workload.prompts(2)[1]
    ids = render(tokenizer, text)
    # engine_rows' way: decode the rendered ids, tag, encode again.
    again = tokenizer.encode(workload.tagged(tokenizer.decode(ids), 7), add_special_tokens=False)
    # The same ids as the server's preprocessing makes of the tagged text (triton_rows' way): it takes
    # the tag as part of a plain user turn (a text opening with "[" it would parse as JSON messages),
    # and the engine and Triton rows prefill the same tokens.
    server = Preprocessor(checkpoint_dir, max_seq_len=1024)
    assert again == server.encode(workload.tagged(text, 7), apply_chat_template=True)
    # The tag comes after the template's system turn, which every prompt keeps sharing.
    system_turn = tokenizer.decode(ids).rpartition(workload.USER_HEADER)[0]
    assert tokenizer.decode(again).startswith(system_turn + workload.USER_HEADER + "Set 0007:\n")


def test_four_adapters_made_from_the_bundled_model(checkpoint_dir, tmp_path):
    made = lora.make_adapters(checkpoint_dir, tmp_path)
    assert list(made) == [f"bench-lora-{i}" for i in range(4)]
    assert AdapterDirectory(tmp_path).names() == list(made)
    ranks = [json.loads((path / "adapter_config.json").read_text())["r"] for path in made.values()]
    assert ranks == [16, 8, 8, 4]  # each fits the row's max_lora_rank (16)
    assert max(ranks) <= lora.LORA_CONFIG["max_lora_rank"]


def test_engine_rows_run_the_three_workloads(checkpoint_dir, onnx_fp32, tokenizer, tmp_path):
    # 20 prompts: a full round of 16 and a partial one, each row's requests summed over both.
    prompts = [tokenizer(f"Count to {n}.")["input_ids"] for n in range(20)]
    plain, base, mixed = lora.engine_rows(checkpoint_dir, onnx_fp32, tmp_path, prompts, 3)
    assert [r["engine"] for r in (plain, base, mixed)] == [
        "engine_lora_plain",
        "engine_lora_base",
        "engine_lora_mixed",
    ]
    for r in (plain, base, mixed):
        assert (r["precision"], r["concurrency"], r["requests"]) == ("fp32", 16, 20)
        assert r["output_tokens"] == 20 * 3  # min_tokens = max_tokens: equal work in every row


def make(engine, tok_s):
    return {"engine": engine, "precision": "fp32", "concurrency": 16, "output_tok_s": tok_s}


def test_ratios_put_the_mixed_row_beside_both_base_only_rows():
    rows = [
        make("engine_lora_plain", 200.0),
        make("engine_lora_base", 180.0),
        make("engine_lora_mixed", 153.0),
    ]
    lines = report.ratios(rows, stream_interval=4, draft_len=4)
    assert lines == [
        "fp32: engine direct, 16 streams, 4 adapters + base mixed vs base-only, same LoRA-capable engine: "
        "0.85× output tok/s (target ≥ 0.8×)",
        "fp32: engine direct, 16 streams, 4 adapters + base mixed vs the plain export, base-only: "
        "0.77× output tok/s",
        "fp32: engine direct, 16 streams, LoRA-capable engine vs the plain export, both base-only: "
        "0.90× output tok/s (what the LoRA branches cost base-model traffic)",
    ]


def test_triton_ratios_add_engine_direct_but_not_the_16_stream_row():
    rows = [
        make("engine_lora_plain", 200.0),
        make("engine_lora_base", 180.0),
        make("engine_lora_mixed", 160.0),
        {**make("triton_ensemble", 170.0), "ttft_p99_s": 1.0},  # its own lines read its TTFT
        make("triton_lora_plain", 180.0),
        make("triton_lora_base", 150.0),
        make("triton_lora_mixed", 120.0),
    ]
    lines = report.ratios(rows, stream_interval=4, draft_len=4)
    triton = [line for line in lines if "through Triton" in line]
    # 120 / 150, 120 / 180, 150 / 180; 120 / 160, 150 / 180, 180 / 200. The 16-stream row (170) sends
    # other prompts: no line compares with it.
    assert triton == [
        "fp32: through Triton, 16 streams, 4 adapters + base mixed vs base-only, same LoRA server: "
        "0.80× output tok/s (target ≥ 0.8×)",
        "fp32: through Triton, 16 streams, 4 adapters + base mixed vs the plain server, base-only: "
        "0.67× output tok/s",
        "fp32: through Triton, 16 streams, LoRA server vs the plain server, both base-only: "
        "0.83× output tok/s (what the LoRA branches cost base-model traffic)",
        "fp32: through Triton vs engine direct, 16 streams: mixed 0.75×, LoRA base-only 0.83×, "
        "plain 0.90× output tok/s",
    ]
