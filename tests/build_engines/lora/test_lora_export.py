"""The LoRA-capable export and the test adapters: built beside the plain export without touching it,
reused when up to date, with the inputs of the contract; adapters made the same, byte for byte,
every time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from build_engines import manifest
from build_engines.lora.adapters import TEST_ADAPTERS, load_base, make_test_adapters
from build_engines.lora.export import export_lora
from build_engines.lora.graph import GRAPH_VERSION, add_lora, spec_for
from python_backend.engine.lora_weights import MASK, SPEC_FILE, LoraSpec, a_input, b_input


def _digests(directory: Path) -> dict[str, str]:
    # model.onnx.data is shared by hard link; its inode and size show it was not rewritten.
    out = {}
    for item in sorted(directory.iterdir()):
        if item.name == "model.onnx.data":
            out[item.name] = f"{item.stat().st_ino}:{item.stat().st_size}:{item.stat().st_mtime_ns}"
        else:
            out[item.name] = hashlib.sha256(item.read_bytes()).hexdigest()
    return out


def test_lora_export_leaves_the_plain_export_as_it_was(checkpoint_dir, onnx_fp32, tmp_path):
    import onnx

    before = _digests(onnx_fp32)
    out = export_lora(checkpoint_dir, onnx_fp32, out=tmp_path / "onnx-fp32-lora")
    assert _digests(onnx_fp32) == before
    assert (out / "model.onnx.data").stat().st_ino == (onnx_fp32 / "model.onnx.data").stat().st_ino
    spec = LoraSpec.read(out)
    assert spec == spec_for(checkpoint_dir)
    # SmolLM2-135M: 30 layers, hidden 576, 9 query and 3 KV heads of 64, MLP 1536 (its config.json).
    assert spec.num_layers == 30
    assert spec.modules["k_proj"] == (576, 192) and spec.modules["down_proj"] == (1536, 576)
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    # q, k and v share one branch (the builder's qkv_proj MatMul): A [576, 3·C], B block diagonal
    # [3·C, 576 + 192 + 192]; the other four modules have their own.
    assert spec.branches == {
        "qkv_proj": ("q_proj", "k_proj", "v_proj"),
        **{m: (m,) for m in ("o_proj", "gate_proj", "up_proj", "down_proj")},
    }
    assert inputs[MASK] == ["batch_size", 1, "lora_columns"]
    assert inputs[a_input(0, "qkv_proj")] == [576, "lora_columns_x3"]
    assert inputs[b_input(29, "qkv_proj")] == ["lora_columns_x3", 960]
    assert inputs[b_input(29, "down_proj")] == ["lora_columns", 576]
    assert len(inputs) == len(manifest.read(onnx_fp32)["inputs"]) + 60 + 1 + 2 * 5 * 30  # + KV, mask, A, B
    # 5 branches × 30 layers, each two MatMuls, a mask and an add, and one Concat repeating the mask
    # for the qkv branches; the plain graph's nodes stay.
    plain = onnx.load(str(onnx_fp32 / "model.onnx"), load_external_data=False).graph
    assert sum(n.name.endswith("/Mask") for n in graph.node) == 5 * 30
    assert len(graph.node) == len(plain.node) + 5 * 30 * 4 + 1
    built = manifest.read(out)
    assert built["artifact"] == "onnx-decoder-lora" and "quality" not in built
    assert built["derived_from"]["path"] == str(onnx_fp32.resolve())
    # Up to date: a second call reuses it (the manifest is not rewritten).
    assert export_lora(checkpoint_dir, onnx_fp32, out=out) == out
    assert manifest.read(out)["created_unix"] == built["created_unix"]


def test_an_export_of_another_graph_layout_is_derived_again(checkpoint_dir, onnx_fp32, tmp_path):
    out = export_lora(checkpoint_dir, onnx_fp32, out=tmp_path / "onnx-fp32-lora")
    built = manifest.read(out)
    assert built["lora_graph_version"] == GRAPH_VERSION
    graph_file = (out / "model.onnx").stat().st_ino
    # An export whose manifest names no layout was written before the stamp: version 1, reused
    # while that is the current layout.
    fields = {k: v for k, v in built.items() if k not in ("created_unix", "lora_graph_version")}
    manifest.write(out, **fields)
    assert export_lora(checkpoint_dir, onnx_fp32, out=out) == out
    assert ((out / "model.onnx").stat().st_ino == graph_file) == (GRAPH_VERSION == 1)
    # Another layout (same lora.json, same plain export): derived again, a new graph file.
    manifest.write(out, **{**fields, "lora_graph_version": GRAPH_VERSION - 1})
    graph_file = (out / "model.onnx").stat().st_ino
    export_lora(checkpoint_dir, onnx_fp32, out=out)
    assert manifest.read(out)["lora_graph_version"] == GRAPH_VERSION
    assert (out / "model.onnx").stat().st_ino != graph_file


def test_fused_qkv_needs_all_three_modules(checkpoint_dir, onnx_fp32, tmp_path):
    full = spec_for(checkpoint_dir)
    partial = LoraSpec(
        base_model=full.base_model,
        num_layers=full.num_layers,
        modules={m: full.modules[m] for m in ("q_proj", "v_proj")},
    )
    with pytest.raises(ValueError, match=r"attn/qkv_proj computes \['q_proj', 'k_proj', 'v_proj'\]"):
        add_lora(onnx_fp32 / "model.onnx", tmp_path / "model.onnx", partial)


def test_test_adapters_are_the_same_every_time(checkpoint_dir, tmp_path):
    model = load_base(checkpoint_dir)
    first = make_test_adapters(checkpoint_dir, tmp_path / "one", model=model)
    second = make_test_adapters(checkpoint_dir, tmp_path / "two", model=model)
    assert [p.name for p in first] == [r.name for r in TEST_ADAPTERS]
    for a, b, recipe in zip(first, second, TEST_ADAPTERS, strict=True):
        weights = "adapter_model.safetensors"
        assert (a / weights).read_bytes() == (b / weights).read_bytes()
        config = json.loads((a / "adapter_config.json").read_text())
        assert config["r"] == recipe.rank and config["lora_alpha"] == recipe.alpha
        assert sorted(config["target_modules"]) == sorted(recipe.target_modules)
        # The base is named by the checkpoint it was made from: what the engine matches.
        assert Path(config["base_model_name_or_path"]).name == checkpoint_dir.name
        assert SPEC_FILE not in {p.name for p in a.iterdir()}
    # make_adapter takes its LoRA layers out again: the caller's model is the base model.
    assert not any("lora_" in name for name, _ in model.named_parameters())


def test_two_processes_deriving_one_export_take_turns(checkpoint_dir, onnx_fp32, tmp_path):
    # Two processes (two make serve, two test runs) may both ask for onnx-fp32-lora: one derives it,
    # the other waits on the lock and finds it up to date (without the lock both derive, into the
    # same staging folder).
    import subprocess
    import sys

    out = tmp_path / "onnx-fp32-lora"
    code = (
        "import sys; from pathlib import Path; from build_engines.lora.export import export_lora; "
        "export_lora(Path(sys.argv[1]), Path(sys.argv[2]), out=Path(sys.argv[3]))"
    )
    command = [sys.executable, "-c", code, str(checkpoint_dir), str(onnx_fp32), str(out)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    printed = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert sorted("is up to date" in text for text in printed) == [False, True], printed
    assert LoraSpec.read(out) == spec_for(checkpoint_dir)
