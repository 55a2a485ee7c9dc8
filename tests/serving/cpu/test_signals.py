"""SIGTERM and SIGINT at every phase of `python -m server`: the whole process tree goes, the ports
are freed, within the timeout.

Phases: before tritonserver exists (right after "starting tritonserver"), while the models load
(tritonserver and its Python-backend stubs run, not ready yet), and after ready. Before the fix, a
SIGTERM before ready ended the supervisor through Python's default action and left tritonserver
running and answering; a SIGINT then was ignored until the server was ready.
"""

import signal

import pytest
from server_process import ServerProcess
from suite_ports import test_port

pytestmark = pytest.mark.integration
PORTS = (test_port(1100), test_port(1101), test_port(1102))
SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.fixture()
def start(test_repository, tmp_path):
    started = []

    def run(*extra):
        started.append(ServerProcess(test_repository, PORTS, tmp_path / "tritonserver.log", *extra))
        return started[-1]

    yield run
    for server in started:
        server.kill_all()


def _gone(server, code, seconds, limit_s):
    running, busy = server.leftovers()
    assert running == [] and busy == [], f"left running: {running}, ports in use: {busy}"
    assert code == 0 and seconds < limit_s, (code, seconds, "".join(server.output)[-1500:])


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_before_tritonserver_starts(start, signum):
    server = start()
    server.wait_for_line("starting tritonserver")
    code, seconds = server.signal_and_wait(signum, 30)
    _gone(server, code, seconds, 15)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_while_the_models_load(start, signum):
    server = start()
    # Stubs up and not ready yet: Triton is loading models (its own signal handler is not set yet).
    server.wait_for(lambda: len(server.stubs()) >= 1, what="a Python-backend stub")
    assert "Triton is ready" not in "".join(server.output)
    code, seconds = server.signal_and_wait(signum, 30)
    assert "before tritonserver was ready" in "".join(server.output)
    _gone(server, code, seconds, 15)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_after_ready(start, signum):
    server = start()
    server.wait_for_line("Triton is ready")
    assert len(server.watch()) >= 4  # tritonserver and its stubs (preprocessing, engine, postprocessing)
    code, seconds = server.signal_and_wait(signum, 40)
    _gone(server, code, seconds, 10)  # nothing in flight: well within the 10 s exit timeout


def test_a_second_signal_forces_the_stop(start):
    server = start()
    server.wait_for(lambda: len(server.stubs()) >= 1, what="a Python-backend stub")
    server.process.send_signal(signal.SIGINT)
    server.process.send_signal(signal.SIGINT)
    server.process.wait(30)
    running, busy = server.leftovers()
    assert running == [] and busy == []
