"""server/tritonserver.py process_group_alive: what stop() waits on before it calls the ports free."""

import subprocess
import time

from server.tritonserver import process_group_alive


def test_a_running_member_counts_and_a_zombie_does_not():
    # A child in a group of its own, not waited for once it exits: a zombie until we reap it, as an
    # orphaned engine process stays until PID 1 reaps it (which here it does only now and then).
    child = subprocess.Popen(["sleep", "0.3"], start_new_session=True)
    try:
        assert process_group_alive(child.pid)
        deadline = time.monotonic() + 10
        while _state(child.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(child.pid) == "Z"
        assert not process_group_alive(child.pid)
    finally:
        child.wait()
    assert not process_group_alive(child.pid)


def _state(pid: int) -> str:
    stat = open(f"/proc/{pid}/stat").read()
    return stat[stat.rindex(")") + 2]
