"""Crash recovery and draining, each on a server of its own (these tests kill and stop it)."""

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from suite_ports import test_port

from client import LLMClient, ServerError
from server.stubs import stub_processes
from server.supervisor import Supervisor
from server.tritonserver import ServerOptions, TritonServer

pytestmark = pytest.mark.integration


@pytest.fixture()
def own_server(test_repository, tmp_path):
    server = TritonServer(
        ServerOptions(test_repository, test_port(1000), test_port(1001), test_port(1002), exit_timeout_s=20),
        log_path=tmp_path / "tritonserver.log",
    )
    yield server
    server.stop(timeout_s=20)


def test_a_killed_engine_stub_is_detected_and_the_server_recovers(own_server):
    supervisor = Supervisor(own_server, max_restarts=2)
    supervisor.start()
    client = LLMClient(own_server.options.grpc_url, timeout_s=60)
    before = client.generate("Say hello.", max_tokens=8, chat=True).text
    engine_pid = next(
        pid for pid, name in stub_processes(own_server.process.pid).items() if name.startswith("engine")
    )
    os.kill(engine_pid, signal.SIGKILL)
    # Triton itself only notices on the next request and keeps reporting ready; the supervisor sees it.
    with pytest.raises(ServerError, match="not healthy"):
        client.generate("Say hello.", max_tokens=8, chat=True)
    assert "engine" in supervisor.problem()
    assert supervisor.check()  # restarts and waits until ready
    assert supervisor.problem() is None and own_server.is_ready()
    # The restarted process got the admin key on its command line too, and had it blanked there.
    command_line = Path(f"/proc/{own_server.process.pid}/cmdline").read_bytes()
    assert own_server.admin_key_hidden and own_server.options.admin_key.encode() not in command_line
    assert client.generate("Say hello.", max_tokens=8, chat=True).text == before


def test_sigterm_drains_in_flight_streams(own_server):
    # Over HTTP (SSE). A gRPC stream does not drain in Triton 2.51: its frontend stops delivering
    # stream responses at SIGTERM, the ensemble never completes and Triton waits out the exit
    # timeout (seen here); clients must retry those requests.
    own_server.start()
    client = LLMClient(own_server.options.http_url, protocol="http", timeout_s=60)
    expected = client.generate("Describe the sea in detail.", max_tokens=48, chat=True)
    chunks, errors, first = [], [], threading.Event()

    def stream():
        try:
            for chunk in client.stream("Describe the sea in detail.", max_tokens=48, chat=True):
                chunks.append(chunk)
                first.set()
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            errors.append(exc)
            first.set()

    worker = threading.Thread(target=stream)
    worker.start()
    assert first.wait(30)
    started = time.monotonic()
    own_server.process.send_signal(signal.SIGTERM)
    worker.join(60)
    code = own_server.process.wait(30)
    assert not errors and "".join(chunks) == expected.text  # the stream finished, nothing lost
    assert code == 0 and time.monotonic() - started < own_server.options.exit_timeout_s + 10


def test_cancelled_streams_do_not_hold_up_shutdown(own_server, tmp_path):
    # Triton 2.51 keeps an ensemble request "in flight" for good when a composing model answers a
    # cancelled step with an error, and then every SIGTERM waits out the whole exit timeout and
    # exits non-zero. Postprocessing answers those steps normally; this checks that it stays so.
    own_server.start()
    for i in range(20):
        stream = LLMClient(own_server.options.grpc_url).stream(
            f"Tell story {i} about a fox.", max_tokens=64, chat=True
        )
        for _ in stream:
            break
        stream.close()
    time.sleep(2)  # the engine stops those streams within a step; let their last responses pass
    code = own_server.stop(timeout_s=40)
    log = (tmp_path / "tritonserver.log").read_text()
    assert not re.search(r"has \d+ in-flight inferences", log) and code == 0


# -- faults under load (bench/chaos.py; `make chaos` runs them longer) ----------------------------
# One `python -m server` for the lot, in this order: the gateway and slow-consumer faults leave it
# healthy, each stub kill makes its supervisor restart Triton, SIGTERM ends it.
CHAOS_SECONDS, CHAOS_CLIENTS = 8, 4


@pytest.fixture(scope="module")
def chaos_server(test_repository, tmp_path_factory):
    from bench.processes import Server

    server = Server(
        test_repository,
        (test_port(1400), test_port(1401), test_port(1402)),
        tmp_path_factory.mktemp("chaos"),
        max_restarts=5,
    )
    server.wait_ready()
    yield server
    server.stop()


def _judge(report):
    # Every request completed, was rejected, or got a clear error; none lost, repeated or hung; and
    # the server served a request afterwards. (Completions during a stub kill's short load window
    # are not required: on a busy machine Triton's restart outlasts it.)
    assert report.broken == [], report
    assert report.recovered, report


def test_killing_the_gateway_under_load(chaos_server, tmp_path):
    from bench.chaos import kill_gateway

    report = kill_gateway(chaos_server, test_port(11040), tmp_path, CHAOS_SECONDS, CHAOS_CLIENTS, 24)
    _judge(report)
    assert report.notes["seconds_to_idle_engine"] < 30  # Triton cancelled the dead gateway's requests


def test_slow_consumers_leave_memory_bounded_and_other_streams_alone(chaos_server, tmp_path):
    from bench.chaos import slow_consumers

    report = slow_consumers(chaos_server, test_port(11041), tmp_path, CHAOS_SECONDS, CHAOS_CLIENTS, 24)
    _judge(report)
    # The stalled streams cost the others nothing.
    assert report.counts["completed"] > 0 and report.counts["error"] == 0
    # What the stalled streams hold does not grow with the traffic around them.
    assert report.notes["rss_after_second_round_mb"] - report.notes["rss_after_first_round_mb"] < 32, (
        report.notes
    )


# The engine's stub and postprocessing's, which sits in every stream's path; preprocessing's kill, with
# all three at a minute each, is `make chaos`'s (each kill here restarts Triton: ~20 s of make test).
@pytest.mark.parametrize("model", ["engine", "postprocessing"])
def test_killing_a_stub_under_load(chaos_server, model):
    from bench.chaos import kill_stub

    _judge(kill_stub(chaos_server, model, CHAOS_SECONDS, CHAOS_CLIENTS, 24))


def test_sigterm_under_load(chaos_server):
    from bench.chaos import sigterm

    report = sigterm(chaos_server, CHAOS_SECONDS, CHAOS_CLIENTS, 24)
    _judge(report)
    # Streams in flight at the signal finished (drain.py), gRPC ones included, and Triton then
    # found nothing in flight: exit 0, well within the 10 s exit timeout.
    assert report.counts["error"] == 0 and report.notes["exit_code"] == 0
    assert report.notes["seconds_to_exit"] < 10
