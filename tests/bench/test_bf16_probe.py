"""bench/bf16_probe.py's PyTorch BF16 decoder computes the same model as the ONNX export.

Its timings decided that no BF16 variant is built (docs/PERFORMANCE.md); they mean something only
if the decoder it times is the export's model, over the engine's own cache layout. So: the same
next token as ONNX Runtime FP32 on a prefill chunk and on a ragged decode step, logits within BF16's
rounding, and its cache writes equal to ONNX Runtime's.
"""

import numpy as np
import torch

from bench.bf16_probe import TorchBf16Decoder
from python_backend.engine.runner import ModelRunner

PROMPT = "The quick brown fox jumps over the lazy dog. Then the dog wakes up and"


def test_the_bf16_decoder_computes_the_exports_model(onnx_fp32, tokenizer):
    ids = tokenizer(PROMPT)["input_ids"]
    runner = ModelRunner(onnx_fp32, num_slots=3, max_seq_len=128)
    bf16 = TorchBf16Decoder(onnx_fp32, num_slots=3, max_len=129)

    reference = runner.verify(0, ids, 0)  # logits after every prompt position, FP32
    ours = bf16([ids], [0], num_logits=len(ids))[0]
    assert np.abs(reference - ours).max() < 1.0
    assert (reference.argmax(-1) == ours.argmax(-1)).mean() >= 0.9
    # Both wrote slot 0's cache for the prompt: the same keys, to BF16's rounding.
    written = bf16.keys[5][0, :, : len(ids)].numpy()
    assert np.abs(written - runner.kv.keys[5][0, :, : len(ids)]).max() < 0.5

    # A ragged decode step over the engine's own cache: rows at different positions.
    for slot, length in ((1, 5), (2, 9)):
        runner.prefill(slot, ids[:length], 0)
    bf16.keys = [torch.from_numpy(a) for a in runner.kv.keys]
    bf16.values = [torch.from_numpy(a) for a in runner.kv.values]
    rows = [(ids[len(ids) - 1], len(ids) - 1), (ids[5], 5), (ids[9], 9)]
    ours = bf16([[t] for t, _ in rows], [p for _, p in rows])[:, -1]
    reference = runner.decode(rows)
    assert np.abs(reference - ours).max() < 1.0
    # The same next token, up to BF16's rounding: where FP32's top two logits nearly tie (row 0
    # here: 0.007 apart), BF16 may pick the other, so the token it picks must score within 0.25 of
    # FP32's best. A wrong decoder misses by far more (a flipped rotary sign: by 33).
    picked = reference[np.arange(len(rows)), ours.argmax(-1)]
    assert (reference.max(-1) - picked < 0.25).all()
