"""Start and stop the OpenAI gateway as its own process, as users run it (`make openai`)."""

import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_gateway(
    port, triton_grpc, tokenizer_dir=None, *extra_args, scheme="http", ca=None, client_cert=None
):
    """Started and answering /v1/models (401 counts: the gateway is up, only the key is missing).
    `ca` / `client_cert` (cert, key): what it takes to reach it over HTTPS."""
    command = [
        sys.executable,
        "-m",
        "client.openai_gateway",
        "--port",
        str(port),
        "--triton-grpc",
        triton_grpc,
        "--log-level",
        "warning",
        *extra_args,
    ]
    if tokenizer_dir:
        command += ["--tokenizer-dir", str(tokenizer_dir)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    context = ssl.create_default_context(cafile=str(ca)) if scheme == "https" else None
    if context is not None and client_cert:
        context.load_cert_chain(*map(str, client_cert))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {process.stderr.read()}")
        try:
            urllib.request.urlopen(
                f"{scheme}://127.0.0.1:{port}/v1/models", timeout=1, context=context
            ).close()
            return process
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return process
            raise
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("gateway not up after 60 s")


def stop_gateway(process) -> str:
    """Stop it; what it logged (stderr)."""
    process.send_signal(signal.SIGTERM)
    try:
        _, logs = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, logs = process.communicate()
    return logs or ""
