"""The default's Triton overhead in alternating rounds (bench/overhead_rounds.py): report.py prints each
round's Triton / engine-direct ratio and their median against the 0.9× target, and the rounds do not
stand in for the run's own engine_direct and `auto` rows in the other ratio lines; each round's prompts
are new to the server."""

from bench_rows import bench_row

from bench import workload
from bench.overhead_rounds import pairing
from bench.report import ratios


def make_row(engine: str, tok_s: float, **keys) -> dict:
    return bench_row(engine, "fp32", tok_s, **keys)


def rounds(*pairs: tuple[float, float]) -> list[dict]:
    return [
        make_row(engine, tok_s, paired=pairing("fp32"), round=number)
        for number, (direct, served) in enumerate(pairs, start=1)
        for engine, tok_s in (("engine_direct", direct), ("triton_intervalauto", served))
    ]


def lines_with(rows, words: str) -> list[str]:
    return [line for line in ratios(rows, stream_interval=4, draft_len=4) if words in line]


def test_each_round_and_the_median_against_the_target():
    rows = rounds((300.0, 270.0), (200.0, 190.0), (250.0, 200.0))
    assert lines_with(rows, "alternating rounds") == [
        "fp32: Triton ensemble (16 streams, auto, the default) vs engine direct, 3 alternating rounds: "
        "0.90×, 0.95×, 0.80×; median 0.90× output tok/s (target ≥ 0.9×)"
    ]


def test_the_rounds_leave_the_runs_own_rows_to_the_other_lines():
    rows = [
        make_row("engine_direct", 400.0),
        make_row("triton_ensemble", 200.0),
        make_row("triton_intervalauto", 300.0),
        *rounds((100.0, 90.0)),
    ]
    assert lines_with(rows, "stream_interval auto") == [
        "fp32: 16 streams, stream_interval auto vs 1 token per response: 1.50× output tok/s, "
        "0.75× engine direct"
    ]


def test_no_line_without_rounds():
    assert (
        lines_with([make_row("engine_direct", 400.0), make_row("triton_intervalauto", 300.0)], "rounds") == []
    )


def test_each_rounds_prompts_are_new_to_the_server_and_the_same_ids_on_both_sides(checkpoint_dir):
    from python_backend.text.tokenizer import Preprocessor

    row_prompts = workload.prompts(48)  # the 16-stream row's: 16 prompts, each sent three times
    rounds = [workload.round_prompts(48, n) for n in (1, 2, 3)]
    sent = [prompt for prompts in rounds for prompt in prompts]
    # no request of a round repeats one the server saw before: in the round, an earlier round, the row
    assert len(set(sent)) == len(sent) and set(sent).isdisjoint(row_prompts)
    # The engine direct gets the token ids the ensemble's preprocessing makes of the same text.
    server = Preprocessor(checkpoint_dir, max_seq_len=1024)
    ids = workload.chat_ids(checkpoint_dir, rounds[0][:2])
    assert ids == [server.encode(text, apply_chat_template=True) for text in rounds[0][:2]]
