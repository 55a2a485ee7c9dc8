"""PEFT → TensorRT-LLM lora_weights / lora_config → the CPU engine's matrices, on the real test
adapters made from the bundled model: the layout is the converter's (examples/hf_lora_convert.py,
NVIDIA/TensorRT-LLM@05316d33, docs/upstream/lora.md §1.6) and the way back is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from build_engines.lora.adapters import make_test_adapters
from python_backend.engine.lora_weights import AdapterError, read_adapter
from python_backend.triton_io.trtllm_lora import (
    TrtllmLora,
    from_trtllm,
    peft_to_trtllm,
    save_peft,
    squeeze_request,
    task_id,
)


@pytest.fixture(scope="module")
def adapters(checkpoint_dir, tmp_path_factory):
    paths = make_test_adapters(checkpoint_dir, tmp_path_factory.mktemp("adapters"))
    return {path.name: path for path in paths}


@pytest.fixture(scope="module")
def spec(checkpoint_dir):
    from build_engines.lora.graph import spec_for

    return spec_for(checkpoint_dir)


def _converter_rows(path):
    """The converter's steps, in torch as it runs them: keys grouped by layer then module in file
    order, A and B as they are, B * alpha/r in the adapter's dtype, cast to float16, rows padded."""
    import torch
    from safetensors.torch import load_file

    config = json.loads((path / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    grouped: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
    for key, tensor in load_file(str(path / "adapter_model.safetensors")).items():
        parts = key.split(".")
        layer = int(parts[parts.index("layers") + 1])
        module = parts[parts.index("layers") + 3]
        grouped.setdefault(layer, {}).setdefault(module, {})["A" if ".lora_A." in key else "B"] = tensor
    ids = {"q_proj": 1, "k_proj": 2, "v_proj": 3, "o_proj": 4, "gate_proj": 5, "down_proj": 6, "up_proj": 7}
    rows, config_rows = [], []
    for layer, modules in grouped.items():
        for module, pair in modules.items():
            out = pair["B"] * scale
            rows.append(torch.cat([pair["A"].flatten(), out.flatten()]).to(torch.float16))
            config_rows.append([ids[module], layer, pair["A"].shape[0]])
    width = max(row.shape[0] for row in rows)
    padded = torch.stack([torch.nn.functional.pad(row, (0, width - row.shape[0])) for row in rows])
    return padded.numpy(), np.asarray(config_rows, np.int32)


@pytest.mark.parametrize("name", ["test-lora-a", "test-lora-b"])
def test_layout_is_the_converters(adapters, name):
    weights, config = _converter_rows(adapters[name])
    lora = peft_to_trtllm(adapters[name])
    assert lora.weights.dtype == np.float16 and lora.config.dtype == np.int32
    # test-lora-b: rank 4 over q/v/up/down on 30 layers → 120 rows, widest row down_proj's 4·(1536+576)
    if name == "test-lora-b":
        assert lora.weights.shape == (120, 4 * (1536 + 576)) and lora.config.shape == (120, 3)
        assert sorted(set(lora.config[:, 0].tolist())) == [1, 3, 6, 7]
    np.testing.assert_array_equal(lora.config, config)
    np.testing.assert_array_equal(lora.weights, weights)


@pytest.mark.parametrize("name", ["test-lora-a", "test-lora-b"])
def test_round_trip_gives_the_engines_matrices(adapters, spec, name):
    engine = read_adapter(name, adapters[name], spec, max_rank=16)
    # In float32 storage nothing is rounded: the engine's own reading, bit for bit.
    exact = from_trtllm(name, peft_to_trtllm(adapters[name], dtype=np.float32), spec, max_rank=16)
    # In float16 (what requests carry) every matrix is the engine's, rounded to float16 once.
    half = from_trtllm(name, peft_to_trtllm(adapters[name]), spec, max_rank=16)
    assert exact.rank == half.rank == engine.rank
    for module in spec.modules:
        np.testing.assert_array_equal(exact.a[module], engine.a[module])
        np.testing.assert_array_equal(exact.b[module], engine.b[module])
        np.testing.assert_array_equal(half.a[module], engine.a[module].astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(half.b[module], engine.b[module].astype(np.float16).astype(np.float32))


def test_saved_peft_directory_reads_back_exactly(adapters, spec, tmp_path):
    lora = peft_to_trtllm(adapters["test-lora-b"])
    # A request's tensors carry a batch dimension of 1, as the converter's .npy files do.
    request = squeeze_request(lora.weights[None], lora.config[None])
    adapter = from_trtllm("task-7", request, spec, max_rank=16)
    again = read_adapter("task-7", save_peft(adapter, spec, tmp_path / "task-7"), spec, max_rank=16)
    for module in spec.modules:
        np.testing.assert_array_equal(again.a[module], adapter.a[module])
        np.testing.assert_array_equal(again.b[module], adapter.b[module])


def test_task_ids_are_stable_non_zero_and_new_per_version():
    first = task_id("test-lora-a", "v1")
    assert first == task_id("test-lora-a", "v1")
    assert 0 < first < 2**31
    assert len({first, task_id("test-lora-a", "v2"), task_id("test-lora-b", "v1")}) == 3


@pytest.mark.parametrize(
    ("config_row", "message"),
    [
        ([9, 0, 4], "module id 9"),
        ([1, 30, 4], "layer 30"),
        ([1, 0, 32], "rank 32"),
    ],
)
def test_rows_that_do_not_fit_are_named(spec, config_row, message):
    lora = TrtllmLora(weights=np.zeros((1, 4 * 1152), np.float16), config=np.asarray([config_row], np.int32))
    with pytest.raises(AdapterError, match=message):
        from_trtllm("task-1", lora, spec, max_rank=16)
