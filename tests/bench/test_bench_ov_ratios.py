"""bench/ov_ratios.py's ratio lines for our OpenVINO engine variants through Triton (bench/ov_rows.py):
each against the peer row at its compute precision, none for a peer the run did not have."""

from bench_rows import bench_row as make_row

from bench.report import ratios


def ov_lines(rows) -> list[str]:
    return [line for line in ratios(rows, stream_interval=4, draft_len=4) if line.startswith("ov-")]


def test_each_variant_meets_the_peer_rows_at_its_compute_precision():
    rows = [
        make_row("triton_ensemble", "fp32", 200.0),
        make_row("llama_server_f32", "fp32", 100.0),
        make_row("openvino_genai_f32", "fp32", 400.0),
        make_row("openvino_genai_default", "fp32", 500.0),
        make_row("triton_ensemble", "ov-fp32", 300.0),
        make_row("triton_ensemble", "ov-bf16", 450.0),
        make_row("vllm_serve_f32", "fp32", 150.0),
        make_row("vllm_serve_bf16", "bf16", 90.0),
    ]
    # ov-fp32 against the f32 rows (300/400, 300/100, 300/150, 300/200); ov-bf16 (FP32 weights in BF16)
    # against the pipeline's default compute, BF16 here, and vLLM's bf16 (450/500, 450/100, 450/90, 450/200)
    assert ov_lines(rows) == [
        "ov-fp32: Triton ensemble (16 streams) vs OpenVINO GenAI in process, f32 compute: 0.75× output tok/s"
        " (target ≥ 0.9× at the same compute)",
        "ov-fp32: Triton ensemble (16 streams) vs llama.cpp's llama-server (f32, 16 streams): 3.00× output"
        " tok/s (target ≥ 1.5×)",
        "ov-fp32: Triton ensemble (16 streams) vs vLLM's CPU server, f32 compute: 2.00× output tok/s"
        " (target ≥ 1×)",
        "ov-fp32: Triton ensemble (16 streams) vs the ONNX fp32 engine through Triton: 1.50× output tok/s",
        "ov-bf16: Triton ensemble (16 streams) vs OpenVINO GenAI in process, default compute: 0.90× output"
        " tok/s (target ≥ 0.9× at the same compute)",
        "ov-bf16: Triton ensemble (16 streams) vs llama.cpp's llama-server (f32, 16 streams): 4.50× output"
        " tok/s (target ≥ 1.5×)",
        "ov-bf16: Triton ensemble (16 streams) vs vLLM's CPU server, bf16 compute: 5.00× output tok/s"
        " (target ≥ 1×)",
        "ov-bf16: Triton ensemble (16 streams) vs the ONNX fp32 engine through Triton: 2.25× output tok/s",
    ]


def test_ov_int8_meets_the_int8_weight_rows():
    rows = [
        make_row("triton_ensemble", "int8", 250.0),
        make_row("llama_server_q8_0", "int8", 100.0),
        make_row("openvino_genai_f32", "int8", 200.0),
        make_row("openvino_genai_f32", "fp32", 999.0),  # other weights: not ov-int8's peer
        make_row("triton_ensemble", "ov-int8", 300.0),
        make_row("vllm_serve_f32", "fp32", 150.0),
    ]
    # 300/200 (the pipeline on its int8 weights, f32 compute), 300/100, 300/150 (vLLM has no INT8 row:
    # its f32 one), 300/250 (our ONNX int8)
    assert ov_lines(rows) == [
        "ov-int8: Triton ensemble (16 streams) vs OpenVINO GenAI in process, f32 compute: 1.50× output tok/s"
        " (target ≥ 0.9× at the same compute)",
        "ov-int8: Triton ensemble (16 streams) vs llama.cpp's llama-server (q8_0, 16 streams): 3.00× output"
        " tok/s (target ≥ 1.5×)",
        "ov-int8: Triton ensemble (16 streams) vs vLLM's CPU server, f32 compute: 2.00× output tok/s"
        " (target ≥ 1×)",
        "ov-int8: Triton ensemble (16 streams) vs the ONNX int8 engine through Triton: 1.20× output tok/s",
    ]


def test_a_variant_without_peers_in_the_run_gets_no_peer_line():
    # Only the OpenVINO pipeline's f32 row ran (e.g. --only openvino, f32 first): one line, no others.
    rows = [make_row("triton_ensemble", "ov-fp32", 120.0), make_row("openvino_genai_f32", "fp32", 100.0)]
    assert ov_lines(rows) == [
        "ov-fp32: Triton ensemble (16 streams) vs OpenVINO GenAI in process, f32 compute: 1.20× output tok/s"
        " (target ≥ 0.9× at the same compute)"
    ]


def test_the_peers_are_compared_with_the_default_framing_where_it_ran():
    # make serve streams at "auto": the auto row (250), not the one-token row (200), meets the peers and
    # stands for the ONNX engine beside the OpenVINO variants.
    rows = [
        make_row("triton_ensemble", "fp32", 200.0),
        make_row("triton_intervalauto", "fp32", 250.0),
        make_row("llama_server_f32", "fp32", 100.0),
        make_row("openvino_genai_f32", "fp32", 500.0),
        make_row("triton_ensemble", "ov-fp32", 300.0),
    ]
    lines = ratios(rows, stream_interval=4, draft_len=4)
    assert (
        "fp32: Triton ensemble (16 streams, auto) vs llama.cpp's llama-server (f32, 16 streams): 2.50× output"
        " tok/s (target ≥ 1.5×)" in lines
    )
    assert (
        "fp32: Triton ensemble (16 streams, auto) vs OpenVINO GenAI in process, f32 compute: 0.50× output"
        " tok/s" in lines
    )
    assert (
        "ov-fp32: Triton ensemble (16 streams) vs the ONNX fp32 engine through Triton: 1.20× output tok/s"
        in lines
    )


def paired(row: dict, variant: str, number: int) -> dict:
    return {**row, "paired": variant, "round": number}


def test_alternating_rounds_give_each_round_s_ratio_and_their_median():
    # Three rounds of ov-bf16 against the pipeline's default compute: 450/500, 300/400 (a slow round on
    # both sides), 480/520. The lone pipeline row from the ONNX section (999) is not ov-bf16's peer here,
    # and the variant's own row for the other lines is its median round (450).
    rows = [
        make_row("openvino_genai_default", "fp32", 999.0),
        make_row("llama_server_f32", "fp32", 100.0),
        make_row("vllm_serve_bf16", "bf16", 150.0),
    ]
    for number, (ours, pipeline) in enumerate(((450.0, 500.0), (300.0, 400.0), (480.0, 520.0)), 1):
        rows.append(paired(make_row("triton_ensemble", "ov-bf16", ours), "ov-bf16", number))
        rows.append(paired(make_row("openvino_genai_default", "fp32", pipeline), "ov-bf16", number))
    lines = ov_lines(rows)
    assert lines == [
        "ov-bf16: Triton ensemble (16 streams) vs OpenVINO GenAI in process, default compute, 3 alternating"
        " rounds: 0.90×, 0.75×, 0.92×; median 0.90× output tok/s (target ≥ 0.9× at the same compute)",
        "ov-bf16: Triton ensemble (16 streams) vs llama.cpp's llama-server (f32, 16 streams): 4.50× output"
        " tok/s (target ≥ 1.5×)",
        "ov-bf16: Triton ensemble (16 streams) vs vLLM's CPU server, bf16 compute: 3.00× output tok/s"
        " (target ≥ 1×)",
    ]
    # "best of ours" against vLLM is a variant's median round too, not its fastest (480)
    assert (
        "best of ours through Triton (ov-bf16, 16 streams) vs vLLM's CPU server, bf16 compute: 3.00× output"
        " tok/s (target ≥ 1×)" in ratios(rows, stream_interval=4, draft_len=4)
    )


def test_a_round_without_its_pipeline_row_is_left_out():
    rows = [
        paired(make_row("triton_ensemble", "ov-fp32", 300.0), "ov-fp32", 1),
        paired(make_row("openvino_genai_f32", "fp32", 400.0), "ov-fp32", 1),
        paired(make_row("triton_ensemble", "ov-fp32", 310.0), "ov-fp32", 2),  # its pipeline run failed
    ]
    assert ov_lines(rows) == [
        "ov-fp32: Triton ensemble (16 streams) vs OpenVINO GenAI in process, f32 compute, 1 alternating"
        " rounds: 0.75×; median 0.75× output tok/s (target ≥ 0.9× at the same compute)"
    ]
