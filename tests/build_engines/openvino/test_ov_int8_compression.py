"""The int8 weights of an OpenVINO variant (build_engines/openvino/export.py → compress.py, run by
.venv-openvino's python with the real nncf): the variant's FP32-kept nodes and activation group size
reach the compressed model, and int8 weights built without that record are rebuilt.

The FP32 export stands in as a small IR with the node names optimum-intel gives SmolLM2's, so one
compression takes seconds; its manifest carries the checkpoint's digest, as _fp32_export writes it.
"""

from __future__ import annotations

import numpy as np
import pytest

from build_engines import manifest
from build_engines.checkpoint import checkpoint_hash
from build_engines.openvino import export as ov_export
from build_engines.openvino.variants import variant

ov = pytest.importorskip("openvino")
ops = pytest.importorskip("openvino.opset13")

VOCAB = 64
HIDDEN = 16
INTERMEDIATE = 32
EMBEDDING = "__module.model.embed_tokens/aten::embedding/Gather"
UP_PROJ = "__module.model.layers.0.mlp.up_proj/aten::linear/MatMul"
DOWN_PROJ = "__module.model.layers.0.mlp.down_proj/aten::linear/MatMul"
LM_HEAD = "__module.lm_head/aten::linear/MatMul"


def make_fp32_ir(directory):
    """embedding → up_proj → down_proj → LM head, the head reading the embedding's constant (tied)."""
    rng = np.random.default_rng(0)
    ids = ops.parameter([1, -1], ov.Type.i64, name="input_ids")
    embed = ops.constant(rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32))
    hidden = ops.gather(embed, ids, ops.constant(np.int64(0)))
    hidden.set_friendly_name(EMBEDDING)
    layers = [
        (UP_PROJ, ops.constant(rng.standard_normal((INTERMEDIATE, HIDDEN)).astype(np.float32))),
        (DOWN_PROJ, ops.constant(rng.standard_normal((HIDDEN, INTERMEDIATE)).astype(np.float32))),
        (LM_HEAD, embed),
    ]
    for name, weight in layers:
        hidden = ops.matmul(hidden, weight, transpose_a=False, transpose_b=True)
        hidden.set_friendly_name(name)
    logits = ops.result(hidden, name="logits")
    model = ov.Model([logits], [ids], "tiny")
    # optimum-intel's FP32 export asks for an f16 KV cache; compress.py drops it, as optimum-intel does.
    model.set_rt_info("f16", ["runtime_options", "KV_CACHE_PRECISION"])
    directory.mkdir(parents=True)
    ov.save_model(model, directory / ov_export.MODEL_FILE, compress_to_fp16=False)
    (directory / "openvino_tokenizer.xml").write_text("<tokenizer/>")  # stands for the files copied along


@pytest.fixture
def checkpoint(tmp_path):
    directory = tmp_path / "checkpoint"
    directory.mkdir()
    (directory / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"weights")
    return directory


@pytest.fixture
def work_dir(tmp_path, checkpoint):
    work = tmp_path / "exports"
    make_fp32_ir(work / "openvino-fp32")
    manifest.write(
        work / "openvino-fp32",
        artifact="openvino-weights",
        weight_format="fp32",
        checkpoint_sha256=checkpoint_hash(checkpoint),
        exporter={"packages": [], "command": ["optimum-cli"]},
    )
    return work


def weight_source(model, name: str):
    """The constant at the end of node `name`'s weight input (through a decompression chain)."""
    node = next(op for op in model.get_ops() if op.get_friendly_name() == name)
    port = 0 if node.get_type_name() == "Gather" else 1  # Gather(table, ids), MatMul(x, weight)
    source = node.input_value(port).get_node()
    while source.get_type_name() != "Constant":
        source = source.input_value(0).get_node()  # Multiply(scale) ← Subtract(zero point) ← Convert
    return source


def test_recipe_reaches_the_compressed_model_and_stale_int8_weights_rebuild(checkpoint, work_dir, capsys):
    # int8 weights as `optimum-cli --weight-format int8` left them: same checkpoint, no compression.
    stale = work_dir / "openvino-int8"
    stale.mkdir()
    (stale / ov_export.MODEL_FILE).write_text("<stale/>")
    manifest.write(stale, artifact="openvino-weights", checkpoint_sha256=checkpoint_hash(checkpoint))

    out = ov_export.export(checkpoint, work_dir, "ov-int8")

    recipe = variant("ov-int8").compression()
    assert manifest.read(work_dir / "openvino-int8")["compression"] == recipe
    assert manifest.read(out)["variant"] == variant("ov-int8").as_dict()
    model = ov.Core().read_model(out / ov_export.MODEL_FILE)
    # Kept: the tied constant (both of its users) and down_proj, as FP32 (saved without f16).
    assert weight_source(model, EMBEDDING).get_element_type() == ov.Type.f32
    assert weight_source(model, LM_HEAD) is weight_source(model, EMBEDDING)
    assert weight_source(model, DOWN_PROJ).get_element_type() == ov.Type.f32
    # The one matrix left: int8_asym stores unsigned 8-bit weights with a zero point.
    up = weight_source(model, UP_PROJ)
    assert (up.get_element_type(), list(up.get_output_shape(0))) == (ov.Type.u8, [INTERMEDIATE, HIDDEN])
    options = model.get_rt_info("runtime_options").value
    assert dict(options) == {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}
    assert (out / "openvino_tokenizer.xml").read_text() == "<tokenizer/>"

    # Built once: a second export reuses the variant (nothing recompressed).
    capsys.readouterr()
    assert ov_export.export(checkpoint, work_dir, "ov-int8") == out
    assert "is up to date" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("recorded", "wanted", "built"),
    [
        ({"mode": "int8_asym", "ignored_patterns": [], "dq_group_size": 0}, None, False),
        (None, {"mode": "int8_asym", "ignored_patterns": [], "dq_group_size": 0}, False),
        (
            {"mode": "int8_asym", "ignored_patterns": [], "dq_group_size": None},
            {"mode": "int8_asym", "ignored_patterns": [], "dq_group_size": 0},
            False,
        ),
        ({"mode": "int8_asym", "ignored_patterns": ["x"], "dq_group_size": 0},) * 2 + (True,),
        (None, None, True),
    ],
    ids=["compressed-for-fp32", "uncompressed-for-int8", "other-group-size", "same", "fp32"],
)
def test_weights_are_reused_only_with_the_same_recipe(tmp_path, recorded, wanted, built):
    (tmp_path / ov_export.MODEL_FILE).write_text("<model/>")
    fields = {"checkpoint_sha256": "abc"} | ({} if recorded is None else {"compression": recorded})
    manifest.write(tmp_path, **fields)
    assert ov_export._built(tmp_path, "abc", wanted) is built
    assert ov_export._built(tmp_path, "other checkpoint", wanted) is False
