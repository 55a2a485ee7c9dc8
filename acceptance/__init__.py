"""Acceptance checks against any running triton-llm server (CPU, emulated GPU or real GPU).

One check per file, each returning a `CheckResult` (result.py):
- streaming.py: streamed text equals non-streamed text, byte for byte (gRPC, HTTP SSE);
- bad_input.py: every row of the bad-input table (bad_input_table.py) gets its error;
- cancellation.py: a cancelled stream frees its sequence (engine_metrics.py reads the gauge);
- load.py: a short bounded Locust run (loadtest/) completes every request.
suite.py runs them in order against a `Target` (target.py: host, ports, and the limits the server
reports); report.py writes report.json and report.md. `python -m acceptance` runs them from the
shell; `make gpu-check` (gpu_check/, `python -m acceptance gpu-check`) runs them on a freshly
built GPU server.
"""
