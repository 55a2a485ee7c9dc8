"""server/tritonserver.py: "ready" means every endpoint answers, the metrics one too.

tritonserver opens its metrics port after the HTTP one; a start() that returned on the health check
alone let the first metrics read find the port closed (CI, stop 34). Two plain HTTP servers stand in
for the two endpoints here, so the order is the test's, not a race's."""

import http.server
import socket
import threading
from contextlib import contextmanager

from server.options import ServerOptions
from server.tritonserver import TritonServer


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@contextmanager
def _answering(port):
    httpd = http.server.HTTPServer(("127.0.0.1", port), _Ok)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_not_ready_until_the_metrics_endpoint_answers(tmp_path):
    http_port, grpc_port, metrics_port = _free_ports(3)
    server = TritonServer(ServerOptions(tmp_path, http_port, grpc_port, metrics_port))
    with _answering(http_port):
        assert not server.is_ready()
        with _answering(metrics_port):
            assert server.is_ready()
