"""The emulated GPU repository on a real tritonserver (TEST_PORT_BASE + 100..102: 18100-18102).

Its session fixture, emulated_gpu_server, lives in tests/conftest.py: tests/serving/client runs its tests
against it too, and one session can hold only one server on those ports.
"""
