"""Every Python-backend stub exits cleanly when the server stops, also after a request failed in it.

Found in the session servers' logs: "Segfault encountered" in ~MetricFamily (Metric::SaveToSharedMemory)
at each shutdown, from preprocessing's stub once it had refused a guide that does not compile (a bad
max_tokens or top_p did not do it). That error's path left the model in a reference cycle that only
the interpreter's exit collected, after the stub's shared memory was gone. Its finalize now closes its
metrics (metrics.CodecMetrics.close), as the engine model's does. `python -m server`'s SIGTERM
(tests/serving/cpu/test_shutdown.py) did not show it: its stubs are ended once their models unloaded."""

import pytest
from suite_ports import test_port

from client import GenerateRequest, LLMClient, ServerError

pytestmark = pytest.mark.integration


def test_no_stub_crashes_at_exit_after_preprocessing_refused_a_guide(test_repository, tmp_path):
    from server.tritonserver import ServerOptions, TritonServer

    log = tmp_path / "tritonserver.log"
    options = ServerOptions(
        test_repository, test_port(1600), test_port(1601), test_port(1602), exit_timeout_s=10
    )
    with TritonServer(options, log_path=log):
        client = LLMClient(options.grpc_url, timeout_s=60)
        assert client.generate("Say hello.", max_tokens=4, chat=True).text
        # The last request: no garbage collection runs between it and the exit.
        with pytest.raises(ServerError, match="guided_decoding_guide"):
            client.generate(GenerateRequest("Say hello.", max_tokens=4, guide_type="regex", guide="("))
    text = log.read_text()
    assert "successfully unloaded 'preprocessing'" in text
    assert "Segfault encountered" not in text, text[-3000:]
