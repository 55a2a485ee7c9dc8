"""finish.keep: the ONNX engine's finish rules over the pipeline's tokens (pure, no model)."""

from python_backend.engine.sequence import FinishReason, SamplingParams
from python_backend.openvino.finish import keep


def test_end_id_is_dropped_and_stops():
    generated = [1]
    kept = keep(generated, [2, 9, 3], SamplingParams(max_tokens=10, end_ids=(9,)))
    assert (kept.tokens, kept.reason, generated) == ([2], FinishReason.STOP, [1, 2])


def test_stop_sequence_across_reads_is_kept_and_stops():
    params = SamplingParams(max_tokens=10, stop_sequences=((4, 5),))
    generated = []
    first = keep(generated, [3, 4], params)
    assert (first.tokens, first.reason) == ([3, 4], None)
    second = keep(generated, [5, 6], params)  # 6 came in the same read after the match: cut
    assert (second.tokens, second.reason) == ([5], FinishReason.STOP)


def test_max_tokens_is_length():
    kept = keep([1, 2], [3, 4], SamplingParams(max_tokens=3))
    assert (kept.tokens, kept.reason) == ([3], FinishReason.LENGTH)
