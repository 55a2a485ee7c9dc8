"""Preprocessing's LoRA step (python_backend/triton_io/lora_inputs.py) over a real adapter directory:
names checked against it, LoRA off refused by name, `name` forwarding, and `trtllm` turning a name
into TensorRT-LLM's task inputs with the weights attached once per id (again on lora_send_weights)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from python_backend.contract.adapter_dir import AdapterDirectory
from python_backend.contract.errors import InputError, UnknownAdapterError
from python_backend.triton_io.lora_inputs import LoraInputs
from python_backend.triton_io.trtllm_lora import peft_to_trtllm, task_id


def _adapter(root, name: str, seed: int = 0):
    """A small PEFT LoRA directory (layer 0's q_proj, rank 2), as PEFT writes its files."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    save_file(
        {
            f"{prefix}.lora_A.weight": rng.standard_normal((2, 8)).astype(np.float32),
            f"{prefix}.lora_B.weight": rng.standard_normal((8, 2)).astype(np.float32),
        },
        str(path / "adapter_model.safetensors"),
    )
    config = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}
    (path / "adapter_config.json").write_text(json.dumps(config))
    return path


def _getter(**inputs):
    arrays = {}
    for name, value in inputs.items():
        if isinstance(value, str):
            value = np.array([[value.encode()]], dtype=np.object_)
        elif isinstance(value, bool):
            value = np.array([[value]])
        arrays[name] = value
    return arrays.get


def test_no_lora_input_no_output(tmp_path):
    assert LoraInputs(str(tmp_path)).outputs(_getter()) == {}
    assert LoraInputs("").outputs(_getter()) == {}


@pytest.mark.parametrize(
    "inputs",
    [
        {"lora_name": "a"},
        {"lora_task_id": np.array([[7]], dtype=np.uint64)},
        {"lora_send_weights": True},
    ],
)
def test_lora_off_refuses_each_input_by_name(inputs):
    with pytest.raises(InputError, match=f"^{next(iter(inputs))}: LoRA is off in this repository"):
        LoraInputs("").outputs(_getter(**inputs))


def test_name_mode_forwards_a_known_name_and_passes_task_inputs_through(tmp_path):
    _adapter(tmp_path, "a")
    lora = LoraInputs(str(tmp_path), "name")
    out = lora.outputs(_getter(lora_name="a"))
    assert list(out) == ["out_lora_name"] and out["out_lora_name"][0, 0] == b"a"
    weights, config = np.ones((1, 2, 4), np.float16), np.zeros((1, 2, 3), np.int32)
    task = np.array([[7]], dtype=np.uint64)
    out = lora.outputs(_getter(lora_task_id=task, lora_weights=weights, lora_config=config))
    assert out["out_lora_task_id"] is task and out["out_lora_weights"] is weights
    assert out["out_lora_config"] is config


def test_an_unknown_or_removed_adapter_is_not_found_by_name(tmp_path):
    lora = LoraInputs(str(tmp_path), "name")
    with pytest.raises(UnknownAdapterError, match="lora_name: adapter 'missing' is not in the adapter"):
        lora.outputs(_getter(lora_name="missing"))
    with pytest.raises(InputError, match="is not an adapter name"):
        lora.outputs(_getter(lora_name="../etc"))


def test_trtllm_mode_sends_weights_the_first_time_and_on_request(tmp_path):
    path = _adapter(tmp_path, "a")
    lora = LoraInputs(str(tmp_path), "trtllm")
    first = lora.outputs(_getter(lora_name="a"))
    expected = peft_to_trtllm(path)
    (task,) = first["out_lora_task_id"].reshape(-1)
    assert task == task_id("a", str(AdapterDirectory(tmp_path).version("a")))
    np.testing.assert_array_equal(first["out_lora_weights"][0], expected.weights)
    np.testing.assert_array_equal(first["out_lora_config"][0], expected.config)
    again = lora.outputs(_getter(lora_name="a"))
    assert list(again) == ["out_lora_task_id"] and again["out_lora_task_id"] == task
    resent = lora.outputs(_getter(lora_name="a", lora_send_weights=True))
    assert resent["out_lora_task_id"] == task and "out_lora_weights" in resent


def test_trtllm_mode_gives_a_rewritten_adapter_a_new_task_id(tmp_path):
    path = _adapter(tmp_path, "a")
    lora = LoraInputs(str(tmp_path), "trtllm")
    before = lora.outputs(_getter(lora_name="a"))["out_lora_task_id"]
    _adapter(tmp_path, "a", seed=1)
    stat = (path / "adapter_model.safetensors").stat()
    os.utime(path / "adapter_model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = lora.outputs(_getter(lora_name="a"))
    assert after["out_lora_task_id"] != before and "out_lora_weights" in after


def test_trtllm_mode_refuses_a_batch_and_both_forms(tmp_path):
    _adapter(tmp_path, "a")
    lora = LoraInputs(str(tmp_path), "trtllm")
    batch = np.array([[b"a"], [b"a"]], dtype=np.object_)
    with pytest.raises(InputError, match="^lora_name: a request holding several prompts"):
        lora.outputs(_getter(lora_name=batch))
    with pytest.raises(InputError, match="^lora_task_id: send the adapter as lora_name or as lora_task_id"):
        lora.outputs(_getter(lora_name="a", lora_task_id=np.array([[7]], dtype=np.uint64)))
