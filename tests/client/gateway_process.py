"""Start and stop the OpenAI gateway as its own process, as users run it (`make openai`)."""

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_gateway(port, triton_grpc, tokenizer_dir=None, *extra_args):
    command = [sys.executable, "-m", "client.openai_gateway", "--port", str(port), "--triton-grpc", triton_grpc,
               "--log-level", "warning", *extra_args]
    if tokenizer_dir:
        command += ["--tokenizer-dir", str(tokenizer_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {process.stderr.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("gateway not up after 60 s")


def stop_gateway(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
