"""server/argv_scrub.py: the scrub waits for an effect of Triton's flag parsing, never for a delay."""

import os
import select
import subprocess
import sys
from pathlib import Path

from server import argv_scrub

EXTENSIONS = Path(select.__file__).parent  # a directory this interpreter has mapped a library from


def test_flags_count_as_parsed_once_a_library_from_the_backend_directory_is_mapped():
    assert argv_scrub.flags_parsed(os.getpid(), EXTENSIONS)
    assert not argv_scrub.flags_parsed(os.getpid(), Path("/opt/tritonserver/backends"))
    # A sibling whose name merely starts with the directory's is not it.
    assert not argv_scrub.flags_parsed(os.getpid(), EXTENSIONS.with_name(EXTENSIONS.name[:-1]))


def test_a_process_that_is_gone_has_not_parsed_anything():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not argv_scrub.flags_parsed(child.pid, EXTENSIONS)


def test_the_secret_is_blanked_in_a_child_command_line_and_nothing_else():
    secret = "s3cret-key-0123456789"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; print(flush=True); time.sleep(30)",
            f"--key={secret}",
            "--other=1",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        # Running (as tritonserver is once its flags are parsed): Popen returns while the kernel may
        # still be setting up the new program's arguments (arg_start 0: reading /proc/PID/mem fails).
        child.stdout.readline()
        assert argv_scrub.scrub(child.pid, secret)
        command_line = Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")
        assert command_line[-3:-1] == [b"--key=" + b"*" * len(secret), b"--other=1"]
    finally:
        child.kill()
        child.wait()
