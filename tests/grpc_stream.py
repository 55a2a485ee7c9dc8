"""One request over a raw tritonclient gRPC stream, for tests that read the ensemble's tensors
themselves: every response until the final one. Importable from any test module (tests/ is on
sys.path through the root conftest.py)."""

import queue

from client import wire


def stream_responses(url: str, values: dict, timeout_s: float = 60, parameters: dict | None = None) -> list:
    """The InferResult of each response to one request with these ensemble inputs (and Triton
    request `parameters`), the final last."""
    import tritonclient.grpc as grpcclient

    responses, client = queue.Queue(), grpcclient.InferenceServerClient(url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    client.async_stream_infer(
        "ensemble",
        wire.grpc_inputs(grpcclient, values),
        enable_empty_final_response=True,
        parameters=parameters,
    )
    out = []
    try:
        while True:
            result, error = responses.get(timeout=timeout_s)
            assert error is None, error
            out.append(result)
            if is_final(result):
                return out
    finally:
        client.stop_stream()
        client.close()


def is_final(result) -> bool:
    return result.get_response().parameters["triton_final_response"].bool_param
