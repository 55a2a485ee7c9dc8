"""ov-int8's recipe (build_engines/openvino/variants.py): what it hands compress.py, and that its
FP32-kept patterns name the nodes they are meant to in the real FP32 export."""

from __future__ import annotations

import json
import re

import pytest

from build_engines.onnx.recipes import INT8_BARS
from build_engines.openvino.variants import DOWN_PROJ, TIED_EMBEDDING, VARIANTS, Variant, variant


def make_variant(**overrides) -> Variant:
    fields = {
        "name": "ov-test",
        "weight_format": "int8",
        "inference_precision": "f32",
        "kv_cache_precision": "u8",
        "bars": INT8_BARS,
        "summary": "test",
    }
    return Variant(**{**fields, **overrides})


def test_ov_int8_recipe_keeps_head_and_down_proj_fp32_and_activations_f32():
    # The measured recipe (docs/OPENVINO.md): per-channel int8_asym, the tied embedding's two users
    # and every down_proj in FP32, DYNAMIC_QUANTIZATION_GROUP_SIZE 0 (f32 activations).
    assert variant("ov-int8").compression() == {
        "mode": "int8_asym",
        "ignored_patterns": [
            r"__module\.model\.embed_tokens/aten::embedding/Gather",
            r"__module\.lm_head/aten::linear/MatMul",
            r"__module\.model\.layers\.\d+\.mlp\.down_proj/aten::linear/MatMul",
        ],
        "dq_group_size": 0,
    }


@pytest.mark.parametrize("name", ["ov-fp32", "ov-bf16"])
def test_fp32_variants_are_not_compressed(name):
    assert variant(name).compression() is None


def test_int8_without_recipe_knobs_keeps_the_plugins_group_size():
    # None: no DYNAMIC_QUANTIZATION_GROUP_SIZE written, the CPU plugin's default (32) applies.
    assert make_variant().compression() == {
        "mode": "int8_asym",
        "ignored_patterns": [],
        "dq_group_size": None,
    }


@pytest.mark.parametrize(
    "overrides", [{"keep_fp32": (DOWN_PROJ,)}, {"dynamic_quantization_group_size": 0}], ids=["keep", "dq"]
)
def test_compression_knobs_on_fp32_weights_are_refused(overrides):
    with pytest.raises(ValueError, match="ov-test: keep_fp32 and dynamic_quantization_group_size need int8"):
        make_variant(weight_format="fp32", **overrides)


@pytest.mark.parametrize("name", ["ov-fp32", "ov-bf16"])
def test_variants_without_int8_knobs_keep_their_manifest_form(name):
    # The fields these variants' manifests held before the knobs existed: an ov-fp32 or ov-bf16
    # already built and gated stays up to date (export() compares the whole dict).
    assert sorted(variant(name).as_dict()) == [
        "bars",
        "inference_precision",
        "kv_cache_precision",
        "name",
        "weight_format",
    ]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_as_dict_equals_its_manifest_form(name):
    # export() reuses a variant whose manifest (JSON) equals as_dict(): a tuple left in it would never
    # compare equal to the list read back, and every export would rebuild.
    as_dict = variant(name).as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_kept_patterns_name_the_tied_embedding_users_and_every_down_proj(openvino_fp32):
    import openvino as ov

    names = [
        op.get_friendly_name() for op in ov.Core().read_model(openvino_fp32 / "openvino_model.xml").get_ops()
    ]

    # nncf.IgnoredScope matches patterns with re.match (nncf/scopes.py, get_matched_ignored_scope_info).
    def matched(pattern: str) -> list[str]:
        return [name for name in names if re.match(pattern, name)]

    assert [len(matched(pattern)) for pattern in TIED_EMBEDDING] == [1, 1]
    # SmolLM2-135M has 30 decoder layers (its config.json, num_hidden_layers), one down_proj each.
    down = matched(DOWN_PROJ)
    assert len(down) == 30
    assert {re.sub(r"\d+", "N", name) for name in down} == {
        "__module.model.layers.N.mlp.down_proj/aten::linear/MatMul"
    }
