"""The client library: one request type, one result type, gRPC and HTTP transports.

gRPC: every request to the decoupled ensemble goes over the bidirectional stream (Triton refuses
unary ModelInfer for decoupled models); tritonclient allows one stream per client object, so each
call opens its own client, which also lets several calls run concurrently from one process.
HTTP: `/v2/models/ensemble/generate` (one response) and `/generate_stream` (server-sent events).
"""

from __future__ import annotations

import json
import queue
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

MODEL = "ensemble"


class ServerError(RuntimeError):
    """The server refused or failed a request; `status` is the HTTP status or gRPC code name."""

    def __init__(self, message: str, status: str | int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    max_tokens: int = 64
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    chat: bool = False  # apply the model's chat template (prompt may be a JSON message list)

    def inputs(self, stream: bool) -> dict[str, object]:
        """The ensemble's inputs as plain values (None = not sent)."""
        return {
            "text_input": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop_words": list(self.stop) or None,
            "apply_chat_template": self.chat or None,
            "stream": stream,
            "exclude_input_in_output": True,
        }


@dataclass
class GenerationResult:
    text: str = ""
    output_tokens: int = 0
    ttft_s: float | None = None  # send → first non-empty text
    e2e_s: float = 0.0
    chunk_times_s: list[float] = field(default_factory=list)  # send → each chunk


_TYPES = {
    "text_input": ("BYTES", np.object_), "max_tokens": ("INT32", np.int32), "temperature": ("FP32", np.float32),
    "top_k": ("INT32", np.int32), "top_p": ("FP32", np.float32), "seed": ("UINT64", np.uint64),
    "stop_words": ("BYTES", np.object_), "apply_chat_template": ("BOOL", np.bool_), "stream": ("BOOL", np.bool_),
    "exclude_input_in_output": ("BOOL", np.bool_),
}


def _grpc_inputs(grpcclient, values: dict[str, object]):
    inputs = []
    for name, value in values.items():
        if value is None:
            continue
        datatype, dtype = _TYPES[name]
        items = value if isinstance(value, list) else [value]
        if dtype is np.object_:
            items = [str(v).encode("utf-8") for v in items]
        array = np.asarray([items], dtype=dtype)
        tensor = grpcclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


class LLMClient:
    def __init__(self, url: str = "localhost:8001", protocol: str = "grpc", timeout_s: float = 300.0,
                 model: str = MODEL):
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
        self.url, self.protocol, self.timeout_s, self.model = url, protocol, timeout_s, model

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc) -> None:
        pass

    # -- public API ----------------------------------------------------------------------------
    def stream(self, prompt: str | GenerateRequest, **kwargs) -> Iterator[str]:
        """Yield text chunks as they arrive."""
        request = prompt if isinstance(prompt, GenerateRequest) else GenerateRequest(prompt, **kwargs)
        events = self._grpc(request, True) if self.protocol == "grpc" else self._http_stream(request)
        for text, _count in events:
            yield text

    def generate(self, prompt: str | GenerateRequest, stream: bool = False, **kwargs) -> GenerationResult:
        """The whole answer, with timings (streamed underneath when stream=True)."""
        request = prompt if isinstance(prompt, GenerateRequest) else GenerateRequest(prompt, **kwargs)
        result, started = GenerationResult(), time.perf_counter()
        if self.protocol == "grpc":
            events = self._grpc(request, stream)
        else:
            events = self._http_stream(request) if stream else self._http_generate(request)
        parts = []
        for text, count in events:
            now = time.perf_counter() - started
            result.chunk_times_s.append(now)
            if text and result.ttft_s is None:
                result.ttft_s = now
            parts.append(text)
            result.output_tokens = max(result.output_tokens, count)
        result.text = "".join(parts)
        result.e2e_s = time.perf_counter() - started
        return result

    def ready(self) -> bool:
        if self.protocol == "http":
            try:
                with urllib.request.urlopen(f"{self._http_base()}/v2/health/ready", timeout=5) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        import tritonclient.grpc as grpcclient

        try:
            return grpcclient.InferenceServerClient(self.url).is_server_ready()
        except Exception:
            return False

    # -- transports ----------------------------------------------------------------------------
    def _grpc(self, request: GenerateRequest, stream: bool) -> Iterator[tuple[str, int]]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        responses: queue.Queue = queue.Queue()
        client = grpcclient.InferenceServerClient(self.url)
        client.start_stream(callback=lambda result, error: responses.put((result, error)),
                            stream_timeout=self.timeout_s)
        try:
            client.async_stream_infer(self.model, _grpc_inputs(grpcclient, request.inputs(stream)),
                                      enable_empty_final_response=True)
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    result, error = responses.get(timeout=max(deadline - time.monotonic(), 0.01))
                except queue.Empty:
                    raise TimeoutError(f"no response within {self.timeout_s} s") from None
                if error is not None:
                    status = error.status() if isinstance(error, InferenceServerException) else None
                    raise ServerError(error.message() if hasattr(error, "message") else str(error), status)
                response = result.get_response()
                final = response.parameters.get("triton_final_response")
                text = result.as_numpy("text_output")
                if text is not None:
                    count = result.as_numpy("token_count")
                    yield (b"".join(text.reshape(-1)).decode("utf-8"),
                           int(count.reshape(-1)[0]) if count is not None else 0)
                if final is not None and final.bool_param:
                    return
        finally:
            client.stop_stream(cancel_requests=True)
            client.close()

    def _http_base(self) -> str:
        return self.url if self.url.startswith("http") else f"http://{self.url}"

    def _http_body(self, request: GenerateRequest, stream: bool) -> bytes:
        body = {k: v for k, v in request.inputs(stream).items() if v is not None}
        return json.dumps(body).encode()

    def _http_post(self, path: str, body: bytes):
        http_request = urllib.request.Request(f"{self._http_base()}/v2/models/{self.model}/{path}", data=body,
                                              headers={"Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(http_request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except json.JSONDecodeError:
                pass
            raise ServerError(detail, exc.code) from None

    def _http_generate(self, request: GenerateRequest) -> Iterator[tuple[str, int]]:
        with self._http_post("generate", self._http_body(request, False)) as response:
            data = json.loads(response.read())
        yield data["text_output"], int(data.get("token_count", 0))

    def _http_stream(self, request: GenerateRequest) -> Iterator[tuple[str, int]]:
        with self._http_post("generate_stream", self._http_body(request, True)) as response:
            for raw in response:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = json.loads(line[5:])
                if "error" in data:
                    raise ServerError(data["error"])
                yield data.get("text_output", ""), int(data.get("token_count", 0))
