"""The acceptance package's parts that need no server: the table's sizes, judging answers, reading
metrics, crash handling, and the report files."""

from __future__ import annotations

import json
import socket

import pytest

from acceptance import __main__ as entry
from acceptance import bad_input, bad_input_table, cancellation, engine_metrics, report, streaming
from acceptance.gpu_check import cli as gpu_check_cli
from acceptance.result import CheckResult, run_check
from acceptance.target import Limits

TEST_LIMITS = Limits(max_text_bytes=65536, max_stop_words=32, max_seq_len=512, gateway_body_limit=200_000)


def rows(limits: Limits) -> dict[str, bad_input_table.Bad]:
    return {row.name: row for row in bad_input_table.table(limits)}


# -- the table, written against limits ---------------------------------------------------------------
def test_the_test_repository_limits_give_the_rows_the_client_tests_always_sent():
    table = rows(TEST_LIMITS)
    assert len(table) == 17 and bad_input_table.omitted(TEST_LIMITS) == []
    # 32 allowed → 40 sent; 65536 allowed → 100000 sent: the values the table had before it moved.
    assert table["huge stop-word list"].message == "stop_words: 40 entries; the limit is 32"
    assert table["prompt over the byte limit"].message == "text_input: 100000 bytes; the limit is 65536"
    assert table["oversized request body"].message == "text_input: 3000000 bytes; the limit is 65536"
    assert table["oversized request body"].openai_message == "the limit is 200000"
    assert table["max_tokens beyond the context"].message == "exceed max_seq_len 512"
    # 511 tokens is the longest prompt at max_seq_len 512; 64 words more is past it, and under 65536 bytes.
    assert table["prompt longer than the context"].inputs["text_input"] == "word " * 575


def test_a_gpu_engines_limits_move_every_size_with_them():
    limits = Limits(max_text_bytes=65536, max_stop_words=8, max_seq_len=4096, max_input_len=2048)
    table = rows(limits)
    assert table["huge stop-word list"].inputs["stop_words"] == ["s"] * 16
    assert table["max_tokens beyond the context"].message == "exceed max_seq_len 4096"
    assert table["prompt longer than the context"].inputs["text_input"] == "word " * (2048 + 64)


def test_a_context_too_long_to_exceed_under_the_byte_limit_omits_that_row_and_says_why():
    limits = Limits(max_text_bytes=65536, max_stop_words=32, max_seq_len=32768)
    assert "prompt longer than the context" not in rows(limits)
    assert len(rows(limits)) == 16
    assert bad_input_table.omitted(limits)[0].startswith("prompt longer than the context: 32831 tokens")


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="max_seq_len must be >= 1, got 0"):
        Limits(max_text_bytes=1, max_stop_words=1, max_seq_len=0)


def test_grpc_message_is_the_rows_unless_triton_answers_itself():
    table = rows(TEST_LIMITS)
    assert table["wrong dtype"].grpc_message == "max_tokens"
    assert table["empty prompt"].grpc_message == "text_input: must not be empty"


# -- judging answers ------------------------------------------------------------------------------------
def test_judge_http_wants_the_status_and_the_message():
    row = rows(TEST_LIMITS)["empty prompt"]
    assert bad_input.judge(row, "http", (400, "in ensemble: text_input: must not be empty")) is None
    assert bad_input.judge(row, "http", (500, "text_input: must not be empty")).startswith(
        "HTTP 500, expected 400"
    )
    assert "lacks 'text_input: must not be empty'" in bad_input.judge(row, "http", (400, "something else"))


def test_judge_grpc_wants_one_error_and_no_result():
    row = rows(TEST_LIMITS)["wrong dtype"]
    assert bad_input.judge(row, "grpc", ([], [Exception("input 'max_tokens' has FP32")])) is None
    assert "expected one error only" in bad_input.judge(row, "grpc", (["a result"], []))


def test_first_difference_points_at_the_byte():
    assert streaming.first_difference(b"hello", b"help!") == 3
    assert streaming.first_difference(b"abc", b"abcdef") == 3  # a prefix: where the shorter ends


def test_the_long_request_cannot_end_early():
    request = cancellation.long_request(TEST_LIMITS)
    assert request.max_tokens == 256  # half of max_seq_len 512
    assert request.inputs(stream=True)["min_tokens"] == 256 and request.inputs(stream=True)["stream"] is True


# -- metrics --------------------------------------------------------------------------------------------
# The tensorrtllm backend's request family, as Triton prints it (labels model, request_type, version).
TRTLLM_METRICS = """# HELP nv_trt_llm_request_metrics TRT LLM request metrics
# TYPE nv_trt_llm_request_metrics gauge
nv_trt_llm_request_metrics{model="engine",request_type="waiting",version="1"} 0
nv_trt_llm_request_metrics{model="engine",request_type="active",version="1"} 3
nv_trt_llm_request_metrics{model="engine",request_type="max",version="1"} 64
nv_inference_count{model="ensemble",version="1"} 12
"""
CPU_METRICS = """# TYPE triton_llm_active_requests gauge
triton_llm_active_requests{model="engine"} 0
"""


def test_the_trtllm_active_gauge_is_found_by_its_labels_not_their_order():
    samples = engine_metrics.parse(TRTLLM_METRICS)
    assert engine_metrics.find(samples, *engine_metrics.TRTLLM_ACTIVE) == 3.0
    assert engine_metrics.find(samples, *engine_metrics.CPU_ACTIVE) is None
    assert engine_metrics.find(engine_metrics.parse(CPU_METRICS), *engine_metrics.CPU_ACTIVE) == 0.0


def test_active_requests_names_its_metric_and_refuses_a_server_without_one(monkeypatch):
    from acceptance.target import Target

    monkeypatch.setattr(engine_metrics, "scrape", lambda target: TRTLLM_METRICS)
    assert engine_metrics.active_requests(Target()) == (
        3.0,
        'nv_trt_llm_request_metrics{model="engine",request_type="active"}',
    )
    assert engine_metrics.engine_kind(Target()).startswith("TensorRT-LLM tensorrtllm backend")
    monkeypatch.setattr(engine_metrics, "scrape", lambda target: "nv_inference_count 1\n")
    with pytest.raises(ValueError, match="no active-request gauge"):
        engine_metrics.active_requests(Target())


# -- results and reports --------------------------------------------------------------------------------
def test_a_crashing_check_is_a_failed_result_naming_the_error():
    def boom() -> CheckResult:
        raise ConnectionRefusedError("port 8001")

    result = run_check("streaming equality", boom)
    assert not result.passed and result.name == "streaming equality"
    assert result.details.startswith("the check crashed: ConnectionRefusedError: port 8001 at ")
    assert "check_seconds" in result.figures


def make_report(gpus=(), passed=(True, True)) -> report.Report:
    results = [CheckResult(f"check {i}", ok, f"details | {i}", {"n": i}) for i, ok in enumerate(passed)]
    return report.Report("Acceptance checks", results, gpus, "Python-backend engine", {"http": "http://h:1"})


def test_the_report_writes_both_files_and_says_cpu_only_without_a_gpu(tmp_path):
    json_path, md_path = report.write(make_report(), tmp_path / "run")
    data = json.loads(json_path.read_text())
    assert data["passed"] is True and [r["name"] for r in data["results"]] == ["check 0", "check 1"]
    assert data["machine"]["ran_on"] == "CPU only: no GPU visible to nvidia-smi on this machine"
    assert data["machine"]["gpus"] == [] and data["context"] == {"http": "http://h:1"}
    md = md_path.read_text()
    assert md.startswith("# Acceptance checks\n\n**PASSED** — 2 of 2 passed")
    assert "Ran on: **CPU only: no GPU visible to nvidia-smi on this machine**" in md
    assert "| check 1 | pass | details \\| 1 |" in md  # a | in details does not break the table
    assert "- **check 1**: n = 1" in md


def test_the_report_names_the_gpus_and_fails_when_one_check_failed(tmp_path):
    gpus = (report.GpuFact(0, "NVIDIA H100 80GB HBM3", 90),)
    json_path, md_path = report.write(make_report(gpus, passed=(True, False)), tmp_path)
    data = json.loads(json_path.read_text())
    assert data["passed"] is False and data["machine"]["ran_on"] == "GPU: NVIDIA H100 80GB HBM3 (SM 90)"
    assert (
        "**FAILED** — 1 of 2 passed" in md_path.read_text()
        and "| check 1 | **FAIL** |" in md_path.read_text()
    )


def test_an_empty_report_has_not_passed():
    assert not report.Report("nothing ran", []).passed


# -- `python -m acceptance`: the checks by default, gpu-check as a command ----------------------------
def test_without_a_command_it_runs_the_checks_and_says_when_no_server_is_ready(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert entry.main(["--http-port", str(port), "--out", str(tmp_path / "out")]) == 2
    assert f"error: no ready server at http://127.0.0.1:{port}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_gpu_check_is_a_command_of_the_same_entry_point():
    args = entry.build_parser().parse_args(["gpu-check", "--checkpoint", "/ckpt", "--tp", "2"])
    assert args.func is gpu_check_cli.cmd_gpu_check and (args.tp, args.precision) == (2, "fp16")
    assert entry.build_parser().parse_args([]).func is entry.run_checks
