"""A Triton request holding a batch of prompts (the ensemble's max_batch_size > 0 lets a
tensorrtllm_backend client send one): each prompt is answered as if sent alone, its responses carry
batch_index as TensorRT-LLM writes it, and only the last response of the request is final. On the
CPU repository and the emulated GPU one, through a raw tritonclient gRPC stream."""

import queue

import numpy as np
import pytest
from grpc_stream import is_final

from client import LLMClient
from client.types import GenerateRequest

pytestmark = pytest.mark.integration
PROMPTS = ("The capital of France is", "The colours of the rainbow are", "def fibonacci(n):")
MAX_TOKENS = (8, 5, 12)


def batched_request(url, inputs: dict[str, np.ndarray], timeout_s: float = 120):
    """Every response to one ensemble request with these (batched) tensors: (results, error)."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import np_to_triton_dtype

    responses = queue.Queue()
    client = grpcclient.InferenceServerClient(url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    tensors = []
    for name, array in inputs.items():
        tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    client.async_stream_infer("ensemble", tensors, enable_empty_final_response=True)
    out = []
    try:
        while True:
            result, error = responses.get(timeout=timeout_s)
            if error is not None:
                return out, error
            out.append(result)
            if is_final(result):
                return out, None
    finally:
        client.stop_stream()
        client.close()


def column(values, dtype) -> np.ndarray:
    return np.asarray([[v.encode() if isinstance(v, str) else v] for v in values], dtype=dtype)


@pytest.mark.parametrize("stream", [True, False])
def test_each_prompt_of_a_batch_gets_its_own_answer(server, stream):
    results, error = batched_request(
        server.options.grpc_url,
        {
            "text_input": column(PROMPTS, np.object_),
            "max_tokens": column(MAX_TOKENS, np.int32),
            "stream": column([stream] * 3, np.bool_),
        },
    )
    assert error is None, error
    texts = ["", "", ""]
    counts = [0, 0, 0]
    for result in results:
        index = result.as_numpy("batch_index")
        text = result.as_numpy("text_output")
        if index is None:  # only the empty final response of a stream may lack it
            assert is_final(result) and (text is None or not text.reshape(-1)[0])
            continue
        i = int(index.reshape(-1)[0])
        texts[i] += text.reshape(-1)[0].decode()
        counts[i] = int(result.as_numpy("token_count").reshape(-1)[0])
    assert [is_final(r) for r in results].count(True) == 1
    client = LLMClient(server.options.grpc_url, timeout_s=120)
    alone = [
        client.generate(GenerateRequest(p, max_tokens=m)) for p, m in zip(PROMPTS, MAX_TOKENS, strict=True)
    ]
    assert all(texts) and texts == [a.text for a in alone]  # greedy: the batch changes nothing
    assert counts == [a.output_tokens for a in alone]


def test_rows_keep_their_own_stop_words(server):
    # Ragged per-row inputs: the client pads a row's list with empty strings, which stop nothing.
    prompt = "List the days of the week, separated by commas."
    results, error = batched_request(
        server.options.grpc_url,
        {
            "text_input": column([prompt, prompt], np.object_),
            "max_tokens": column([24, 24], np.int32),
            "apply_chat_template": column([True, True], np.bool_),
            "stop_words": np.asarray([[b" Thursday", b""], [b" Tuesday", b" Wednesday"]], dtype=np.object_),
        },
    )
    assert error is None, error
    texts = {
        int(r.as_numpy("batch_index").reshape(-1)[0]): r.as_numpy("text_output").reshape(-1)[0].decode()
        for r in results
        if r.as_numpy("batch_index") is not None
    }
    client = LLMClient(server.options.grpc_url, timeout_s=120)
    assert (
        texts[0]
        == client.generate(GenerateRequest(prompt, max_tokens=24, stop=(" Thursday",), chat=True)).text
    )
    assert (
        texts[1]
        == client.generate(
            GenerateRequest(prompt, max_tokens=24, stop=(" Tuesday", " Wednesday"), chat=True)
        ).text
    )
    assert texts[0] != texts[1]


def test_a_bad_row_refuses_the_request_naming_the_item(server):
    results, error = batched_request(
        server.options.grpc_url,
        {"text_input": column(PROMPTS[:2], np.object_), "max_tokens": column([8, 0], np.int32)},
    )
    assert error is not None and not results
    assert "batch item 1: max_tokens" in str(error)
