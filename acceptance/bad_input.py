"""Check: every row of the bad-input table gets a clear error over HTTP and gRPC, and the server
stays ready after each one.

HTTP: Triton's `generate` endpoint, the row's status and message. gRPC: a tritonclient stream (the
ensemble is decoupled), an error and no result, with the row's gRPC message. The rows are sent raw,
not through client/, because several are mistakes the client library would refuse to build.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np

from .bad_input_table import GRPC_TYPES, Bad, omitted, table
from .result import CheckResult
from .target import Limits, Target

NAME = "bad input"


def send_http(target: Target, bad: Bad, timeout_s: float = 60.0) -> tuple[int, str]:
    """(status, error message or body) of the row sent to `generate`."""
    body = bad.http_body if bad.http_body is not None else json.dumps(bad.inputs).encode()
    request = urllib.request.Request(
        f"{target.http_url}/v2/models/ensemble/generate",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, str(json.loads(raw)["error"])
        except (ValueError, KeyError, TypeError):
            return exc.code, raw.decode("utf-8", "replace")


def _tensor(name: str, value) -> tuple[str, np.ndarray, str]:
    datatype = GRPC_TYPES[name]
    if datatype == "BYTES":
        values = value if isinstance(value, list) else [value]
        return name, np.array([[v.encode() for v in values]], dtype=object), datatype
    return name, np.array([[value]], dtype=np.int32 if datatype == "INT32" else np.float32), datatype


def send_grpc(target: Target, bad: Bad) -> tuple[list, list]:
    """(results, errors) of the row sent on a gRPC stream."""
    import tritonclient.grpc as grpcclient  # the client extra; imported where it is used

    tensors = bad.grpc_tensors or [_tensor(name, value) for name, value in bad.inputs.items()]
    inputs = []
    for name, array, datatype in tensors:
        tensor = grpcclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    client = grpcclient.InferenceServerClient(target.grpc_url)
    results, errors = [], []
    client.start_stream(callback=lambda result, error: (errors if error else results).append(error or result))
    try:
        client.async_stream_infer("ensemble", inputs)
    except Exception as exc:  # refused by the client library before sending (e.g. a ragged shape)
        errors.append(exc)
    client.stop_stream()  # waits for the stream's answers
    client.close()
    return results, errors


def judge(bad: Bad, protocol: str, answer) -> str | None:
    """None when the answer is what the row expects, else what differed."""
    if protocol == "http":
        status, message = answer
        if status != bad.http_status:
            return f"HTTP {status}, expected {bad.http_status}: {message[:200]}"
        if bad.message not in message:
            return f"HTTP message {message[:200]!r} lacks {bad.message!r}"
        return None
    results, errors = answer
    if results or not errors:
        return f"gRPC answered {len(results)} result(s) and {len(errors)} error(s); expected one error only"
    if bad.grpc_message not in str(errors[0]):
        return f"gRPC message {str(errors[0])[:200]!r} lacks {bad.grpc_message!r}"
    return None


def check(target: Target, limits: Limits | None = None) -> CheckResult:
    limits = limits or Limits.of_server(target)
    rows = table(limits)
    failures = []
    for bad in rows:
        for protocol in ("http", "grpc"):
            answer = send_http(target, bad) if protocol == "http" else send_grpc(target, bad)
            problem = judge(bad, protocol, answer)
            if problem is None and not target.ready():
                problem = "the server was not ready after it"
            if problem:
                failures.append(f"{bad.name} ({protocol}): {problem}")
    skipped = omitted(limits)
    figures = {
        "rows": len(rows),
        "requests": 2 * len(rows),
        "failed": len(failures),
        "omitted_rows": len(skipped),
        "limits": {
            "max_text_bytes": limits.max_text_bytes,
            "max_stop_words": limits.max_stop_words,
            "max_seq_len": limits.max_seq_len,
            "longest_prompt": limits.longest_prompt,
        },
    }
    note = f" Omitted: {'; '.join(skipped)}." if skipped else ""
    if failures:
        return CheckResult(
            NAME,
            False,
            f"{len(failures)} of {2 * len(rows)} answers differed from the table: "
            + " | ".join(failures)
            + note,
            figures,
        )
    return CheckResult(
        NAME,
        True,
        f"all {len(rows)} rows refused as expected over HTTP and gRPC; the server stayed ready." + note,
        figures,
    )
