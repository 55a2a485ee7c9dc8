import os
import threading

from python_backend.triton_io.cancel_channel import CancelListener, CancelSender, address


def test_keys_reach_the_listener_of_the_same_server_only():
    got, arrived = [], threading.Event()

    def on_cancel(key):
        got.append(key)
        arrived.set()

    channel = address(server_pid=os.getpid())
    listener = CancelListener(on_cancel, channel)
    try:
        assert CancelSender(channel).send(1795352064844401907)
        assert arrived.wait(2)
        assert got == [1795352064844401907]
        assert not CancelSender(address(server_pid=os.getpid() + 10**6)).send(
            5
        )  # another server: nobody there
    finally:
        listener.close()


def test_a_failing_callback_does_not_stop_the_listener():
    got, arrived = [], threading.Event()

    def on_cancel(key):
        if key == 1:
            raise RuntimeError("boom")
        got.append(key)
        arrived.set()

    channel = address(server_pid=os.getpid() + 1)
    listener = CancelListener(on_cancel, channel)
    sender = CancelSender(channel)
    try:
        sender.send(1)
        sender.send(2)
        assert arrived.wait(2) and got == [2]
    finally:
        listener.close()
    assert not listener._thread.is_alive()
    assert not sender.send(3)  # the listener is gone
