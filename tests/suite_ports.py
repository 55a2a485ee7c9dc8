"""Where this test run listens, so two runs can share a machine.

TEST_PORT_BASE=N (default 18000) moves every port the suite opens: N..N+2 for the session server,
N+11000.. for gateways, N+1000.. and N+100.. for servers a test starts itself; and the scratch
folder under build/. Importable from any test module: pytest puts tests/ on sys.path for the root
conftest.py.
"""

import os
from pathlib import Path

PORT_BASE = int(os.environ.get("TEST_PORT_BASE", "18000"))
SCRATCH = (
    Path(__file__).resolve().parent.parent
    / "build"
    / ("tests" if PORT_BASE == 18000 else f"tests-{PORT_BASE}")
)


def test_port(offset: int) -> int:
    return PORT_BASE + offset


test_port.__test__ = False  # a helper, not a test, despite its name
