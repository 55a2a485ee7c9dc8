"""ModelRunner.score: teacher-forced logits of several sequences decoded together, as the quality gates
(build_engines/onnx/quality.py) measure every variant."""

import numpy as np
import pytest

from python_backend.engine.runner import ModelRunner


@pytest.fixture(scope="module")
def sequences(tokenizer):
    texts = ["Water boils at", "The capital of France is a city that", "Hello", "One two three four five six"]
    return [tokenizer.encode(t) for t in texts]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_sequences_scored_together_get_the_logits_each_gets_alone(request, precision, sequences):
    onnx_dir = request.getfixturevalue(f"onnx_{precision}")
    runner = ModelRunner(onnx_dir, num_slots=len(sequences), max_seq_len=64)
    together = runner.score(sequences)  # shortest and longest mixed: results stay in the callers' order
    assert [len(rows) for rows in together] == [len(tokens) for tokens in sequences]
    for tokens, rows in zip(sequences, together, strict=True):
        alone = runner.score([tokens])[0]
        assert np.allclose(rows, alone, atol=1e-4)


def test_the_last_row_is_what_a_prefill_of_the_whole_sequence_gives(onnx_fp32, sequences):
    # FP32 only: INT8's MatMulNBits takes another kernel for a many-row prefill, so its rows differ.
    runner = ModelRunner(onnx_fp32, num_slots=len(sequences), max_seq_len=64)
    scored = runner.score(sequences)
    for slot, (tokens, rows) in enumerate(zip(sequences, scored, strict=True)):
        assert np.allclose(rows[-1], runner.prefill(slot, tokens, 0), atol=1e-4)


def test_more_sequences_than_slots_or_longer_than_max_seq_len_are_refused(onnx_fp32):
    runner = ModelRunner(onnx_fp32, num_slots=2, max_seq_len=8)
    with pytest.raises(ValueError, match="3 sequences to score, 2 slots"):
        runner.score([[1], [2], [3]])
    with pytest.raises(ValueError, match="max_seq_len 8"):
        runner.score([list(range(1, 10))])
