"""The vLLM peer's parts that need no vLLM: its command line and environment
(bench/peers/vllm_peer.py), the server process's readiness wait and the reading of a streamed chat
completion (bench/peers/openai_client.py, shared with llama-server's peer). Nothing is installed:
the server in the readiness tests is Python's own http.server, a real process on a real socket.
"""

import sys
from pathlib import Path

import pytest
from suite_ports import test_port

from bench.peers import openai_client, vllm_peer
from bench.peers.openai_client import ServerProcess


def test_the_command_line_names_the_checkpoint_dtype_and_limits():
    command = vllm_peer.command(
        Path("/venv/bin/python"),
        Path("/ckpt"),
        dtype="bf16",
        port=48000,
        max_num_seqs=16,
        max_model_len=1024,
    )
    # The module entry point, not `vllm serve` (whose version lookup fails in this wheel), with
    # vLLM's own spelling of the dtype.
    assert command == [
        "/venv/bin/python",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "/ckpt",
        "--dtype",
        "bfloat16",
        "--host",
        "127.0.0.1",
        "--port",
        "48000",
        "--max-num-seqs",
        "16",
        "--max-model-len",
        "1024",
    ]
    assert (
        vllm_peer.command(Path("p"), Path("c"), dtype="f32", port=1, max_num_seqs=1, max_model_len=8)[6]
        == "float32"
    )


def test_the_environment_binds_every_core_and_keeps_the_callers_variables():
    env = vllm_peer.environment({"PATH": "/bin", "HF_HUB_OFFLINE": "0"}, {1, 0}, Path("/cache"))
    assert env == {
        "PATH": "/bin",
        "HF_HUB_OFFLINE": "1",  # no model hub here, whatever the caller had
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_CPU_OMP_THREADS_BIND": "0,1",  # both cores, sorted: not "auto", which keeps one back
        "VLLM_CACHE_ROOT": "/cache",
        "VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS": "3600",  # a slow step on a loaded machine is a figure
    }


def _server(tmp_path: Path, command: list[str], port: int, timeout_s: float) -> ServerProcess:
    return ServerProcess(
        name="probe",
        command=command,
        port=port,
        log_path=tmp_path / "server.log",
        ready_timeout_s=timeout_s,
    )


def test_the_process_is_ready_once_health_answers_200_and_stops_on_leaving(tmp_path):
    (tmp_path / "health").write_text("ok")  # http.server answers GET /health with this file: 200
    port = test_port(900)
    command = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(tmp_path),
    ]
    with _server(tmp_path, command, port, 60) as server:
        assert openai_client.get_status(port, "/health") == 200
    assert server.process.poll() is not None
    with pytest.raises(OSError):
        openai_client.get_status(port, "/health")


def test_a_process_that_exits_before_it_is_ready_is_reported_with_its_code(tmp_path):
    command = [sys.executable, "-c", "print('bad flag'); raise SystemExit(3)"]
    with pytest.raises(RuntimeError, match="probe exited with 3"):
        with _server(tmp_path, command, test_port(901), 60):
            pass
    assert "bad flag" in (tmp_path / "server.log").read_text()


def test_a_process_that_never_answers_is_stopped_at_the_deadline(tmp_path):
    command = [sys.executable, "-c", "import time; time.sleep(120)"]
    server = _server(tmp_path, command, test_port(902), 1)
    with pytest.raises(TimeoutError, match="probe did not become healthy in 1 s"):
        server.__enter__()
    assert server.process.poll() is not None  # terminated, not left running


# A stream shaped as vLLM 0.32.0's server sends one: a role-only first chunk, text chunks, then the
# usage chunk (this one as it came for an 8-token answer here, id and model name shortened).
VLLM_STREAM = [
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1796543476,'
    b'"model":"smollm2","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
    b'"logprobs":null,"finish_reason":null}]}\n',
    b"\n",
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1796543476,'
    b'"model":"smollm2","choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,'
    b'"finish_reason":null}]}\n',
    b"\n",
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1796543476,'
    b'"model":"smollm2","choices":[],"usage":{"prompt_tokens":31,"total_tokens":39,'
    b'"completion_tokens":8},"system_fingerprint":"vllm-0.32.0-7eb66cda"}\n',
    b"\n",
    b"data: [DONE]\n",
]


def test_a_stream_is_read_as_chunks_with_text_and_the_servers_token_count():
    chunks = [c for c in map(openai_client.parse_event, VLLM_STREAM) if c is not None]
    assert len(chunks) == 3  # blank lines and [DONE] are not chunks
    # The role-only first chunk carries no text: the first token's time is the second chunk's.
    assert [openai_client.has_text(c) for c in chunks] == [False, True, False]
    assert chunks[-1]["usage"]["completion_tokens"] == 8


def test_the_request_asks_for_exactly_max_tokens_greedy_and_the_usage_figure():
    assert openai_client.chat_request("hi", 128) == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 128,
        "ignore_eos": True,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
