#!/usr/bin/env bash
# make test's suite, in two pytest processes side by side: the serving tests (marked integration; the
# GPU-repository ones, also marked image_libs, ran in test-image) in the foreground, and every test
# that starts no server beside them, on ports and a scratch folder of their own (TEST_PORT_BASE,
# tests/suite_ports.py), its output kept in build/test-units.log and printed after. In one process the
# tests that start no server kept one core of two busy and the other idle (the machine sampled 51-62 %
# busy through them), about a third of the suite's time; the serving tests use both cores.
#
# usage: tests/run_suite.sh PYTHON [PYTEST_ARGS...]   (both halves take the same arguments)
# Exits 0 when both halves pass. "No test selected" (pytest's exit 5) fails it, unless arguments were
# given and the other half ran tests: a -k that names serving tests only leaves the other half empty.
set -u
python=$1
shift
log=build/test-units.log
mkdir -p build
TEST_PORT_BASE=20000 "$python" -m pytest -p no:cacheprovider -m "not integration" "$@" >"$log" 2>&1 &
units_pid=$!
"$python" -m pytest -m "integration and not image_libs" "$@"
serving=$?
wait "$units_pid"
units=$?
echo "=================== the tests that start no server, run beside the above ($log) ==================="
cat "$log"
echo "run_suite: serving tests exit $serving, the tests that start no server exit $units"
if [ $# -gt 0 ]; then  # a selection may leave one half empty
    [ "$serving" -eq 5 ] && [ "$units" -ne 5 ] && serving=0
    [ "$units" -eq 5 ] && [ "$serving" -ne 5 ] && units=0
fi
[ "$serving" -eq 0 ] && [ "$units" -eq 0 ]
