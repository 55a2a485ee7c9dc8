"""SIGTERM after mixed traffic (OpenAI gateway, gRPC, HTTP) exits 0 within 10 s when nothing is in flight.

Reported: after one non-streamed chat completion through the gateway, SIGTERM waited out the whole
exit timeout and exited 1. Found: a non-streamed request whose client went away kept generating to
max_tokens — Triton 2.51's ensemble does not cancel its running engine step, and the engine hears of
a cancellation only through the postprocessing step of its next token, which a non-streamed request
has only at the end — so Triton's drain waited for it (measured: 12.6 s after 7 chat completions
with max_tokens 100 whose clients disconnected; 3.3 s with the fix). The gateway now streams from
Triton underneath every request, so a disconnect reaches the engine within a step.

Found next: a gRPC stream cancelled just after its final response (what our client did on every
stream; tritonclient users do it too), followed by HTTP traffic, can leave Triton 2.51 holding the
ensemble: its composing models unload, it never does, and Triton waits out its exit timeout and exits 1.
Our clients no longer cancel a stream that has ended, and server/stubs.py ends the wait once every
model with a process has unloaded.
"""

import queue
import re
import signal
import urllib.request

import pytest
import tritonclient.grpc as grpcclient
from gateway_process import start_gateway, stop_gateway
from server_process import ServerProcess
from suite_ports import test_port

from bench.processes import metric, wait_until
from client import GenerateRequest, LLMClient, wire

pytestmark = pytest.mark.integration
PORTS = (test_port(1200), test_port(1201), test_port(1202))
GATEWAY_PORT = test_port(11010)
CHAT = (
    b'{"model": "ensemble", "messages": [{"role": "user", "content": "Tell me a long story."}], '
    b'"max_tokens": %d%s}'
)


def _chat(max_tokens: int, stream: bool = False, timeout_s: float = 60, ignore_eos: bool = False) -> bytes:
    body = CHAT % (
        max_tokens,
        (b', "stream": true' if stream else b"") + (b', "ignore_eos": true' if ignore_eos else b""),
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.read()


def _grpc_stream_cancelled_after_final(url: str) -> None:
    client = grpcclient.InferenceServerClient(url)
    responses: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    inputs = wire.grpc_inputs(grpcclient, GenerateRequest("Say hello.", max_tokens=8, chat=True).inputs(True))
    client.async_stream_infer("ensemble", inputs, request_id="1", enable_empty_final_response=True)
    while True:
        result, error = responses.get(timeout=60)
        assert error is None, error
        if result.get_response().parameters["triton_final_response"].bool_param:
            break
    client.stop_stream(cancel_requests=True)
    client.close()


def test_sigterm_after_gateway_grpc_and_http_traffic_exits_0_within_10_s(test_repository, tmp_path):
    server = ServerProcess(test_repository, PORTS, tmp_path / "tritonserver.log", exit_timeout_s=30)
    gateway = None
    try:
        server.wait_for_line("Triton is ready")
        grpc_url, http_url = f"127.0.0.1:{PORTS[1]}", f"http://127.0.0.1:{PORTS[0]}"
        gateway = start_gateway(GATEWAY_PORT, grpc_url)
        assert b'"finish_reason":"length"' in _chat(8)  # the reported case
        assert b"[DONE]" in _chat(8, stream=True)
        grpc, http = LLMClient(grpc_url, timeout_s=60), LLMClient(http_url, protocol="http", timeout_s=60)
        assert grpc.generate("Say hello.", max_tokens=8, chat=True).text
        assert "".join(grpc.stream("Say hello.", max_tokens=8, chat=True))
        assert http.generate("Say hello.", max_tokens=8, chat=True).text
        assert "".join(http.stream("Say hello.", max_tokens=8, chat=True))
        # tritonclient users who cancel their stream after its final response: this, then HTTP
        # traffic, is what makes Triton 2.51 keep the ensemble loaded at shutdown (about one run
        # in four); server/stubs.py ends that wait once every model with a process has unloaded.
        for _ in range(5):
            _grpc_stream_cancelled_after_final(grpc_url)
        assert http.generate("Say hello.", max_tokens=8, chat=True).text
        # Clients that give up on a non-streamed answer mid-generation: exactly 400 tokens (ignore_eos)
        # would take the engine far longer than 10 s, so a drain within 10 s shows they were
        # cancelled. 2 s is enough for each to reach the engine even on a busy machine (0.5 s was
        # not, on CI).
        for _ in range(3):
            with pytest.raises(OSError):
                _chat(400, timeout_s=2.0, ignore_eos=True)
        # The gateway notices within 0.5 s and the engine stops them at its next step: the cause
        # found and fixed. Before the fix, 400 tokens each ran to the end ("has 3 in-flight inferences").
        metrics = f"http://127.0.0.1:{PORTS[2]}/metrics"
        assert wait_until(lambda: (metric(metrics, "triton_llm_requests_cancelled_total") or 0) >= 3, 60)
        code, seconds = server.signal_and_wait(signal.SIGTERM, 60)
        log = (tmp_path / "tritonserver.log").read_text()
        assert not re.search(r"has \d+ in-flight inferences", log), log[-3000:]
        # The engine stub destroys its metric families before it exits (metrics.EngineMetrics.close);
        # left to the interpreter's exit, they crashed it on every shutdown.
        assert "Segfault encountered" not in log, log[-3000:]
        assert code == 0 and seconds < 10, (code, seconds)
        running, busy = server.leftovers()
        assert running == [] and busy == []
    finally:
        if gateway is not None:
            stop_gateway(gateway)
        server.kill_all()


def test_a_start_that_fails_while_models_load_leaves_no_process_behind(test_repository, tmp_path):
    # Stubs that lose tritonserver while their models load never exit on their own (found: two
    # from a crashed bench start held 600 MB for 40 minutes), so start() must take them down.
    from server.stubs import stub_processes
    from server.tritonserver import ServerOptions, TritonServer, process_group_alive

    class FailsOnceStubsRun(TritonServer):
        def is_ready(self):
            if stub_processes(self.process.pid):
                raise RuntimeError("an error of ours while waiting")
            return False

    ports = (test_port(1210), test_port(1211), test_port(1212))
    server = FailsOnceStubsRun(ServerOptions(test_repository, *ports, exit_timeout_s=5), tmp_path / "log")
    with pytest.raises(RuntimeError, match="an error of ours"):
        server.start()
    assert not process_group_alive(server.process.pid)
