"""bench/stats.py: a streamed row's framing figures from its samples' responses."""

from bench.stats import Sample, framing, framing_lines, row


def test_tokens_per_response_and_the_latency_between_responses():
    # (seconds since send, tokens so far) of each response that brought tokens.
    first = Sample(0.1, 0.9, 5, ((0.1, 1), (0.3, 2), (0.5, 4), (0.9, 5)))
    second = Sample(0.2, 0.5, 2, ((0.2, 1), (0.5, 2)))
    assert first.chunks == [1, 1, 2, 1] and second.chunks == [1, 1]
    assert [round(g, 3) for g in first.gaps_s] == [0.2, 0.2, 0.4]
    figures = framing([first, second])
    # Six responses carried 7 tokens; four gaps: 0.2, 0.2, 0.4 and 0.3 (p50: midway, 0.25).
    assert figures["tokens_per_response_mean"] == round(7 / 6, 2)
    assert (figures["tokens_per_response_p50"], figures["tokens_per_response_max"]) == (1.0, 2)
    assert figures["icl_p50_s"] == 0.25


def test_a_row_that_does_not_stream_has_no_framing_figures():
    direct = row("engine_direct", "fp32", 16, [Sample(0.1, 1.0, 5)], 1.0)
    streamed = row("triton_intervalauto", "fp32", 16, [Sample(0.1, 0.3, 2, ((0.1, 1), (0.3, 2)))], 1.0)
    assert "tokens_per_response_mean" not in direct
    lines = framing_lines([direct, streamed])
    # The header, its rule, and one line: the streamed row only.
    assert len(lines) == 3 and lines[2] == "| triton_intervalauto | fp32 | 16 | 1.0 | 1.0 | 1 | 0.2 | 0.2 |"
