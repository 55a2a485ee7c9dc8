"""The OpenVINO variants: their weights (optimum-intel's FP32 export, or that export compressed by nncf
with the variant's recipe), the CPU plugin's precision hints, and the quality bars each must pass (the
ONNX variants' bars, build_engines/onnx/recipes.py).

ov-bf16 is the FP32 export served with INFERENCE_PRECISION_HINT bf16: the weights stay FP32 on disk
and the plugin computes in BF16 (the weights converted when the model is compiled), so it shares
ov-fp32's files. KV cache precision: f32 for ov-fp32 (greedy must equal PyTorch's), u8 for the
others (the plugin quantizes the paged cache per token; the gate measures it, as the cache is part
of the serving path the gate runs).

ov-int8 is the FP32 export with its weights compressed by nncf (compress.py), not optimum-cli's
`--weight-format int8`, which measured top-1 93.8 % (docs/OPENVINO.md): that one quantizes the tied
embedding / LM head too, and the CPU plugin then also quantizes the activations of every INT8 matrix
to int8 in groups of 32 (DYNAMIC_QUANTIZATION_GROUP_SIZE, 32 by default). nncf 3.4.0's INT8 modes
take per-channel scales only (no group size), so the error is bought back by keeping the matrices
that cost the most in FP32 and the activations in f32.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..onnx.recipes import FP32_BARS, INT8_BARS, Bars

WEIGHT_FORMATS = ("fp32", "int8")  # fp32: optimum-intel's export; int8: that export, compressed by nncf
# Node names of optimum-intel's FP32 IR (regular expressions: nncf.IgnoredScope patterns). The embedding
# Gather and the LM head read one tied constant, so both must be kept for it to stay FP32.
TIED_EMBEDDING = (
    r"__module\.model\.embed_tokens/aten::embedding/Gather",
    r"__module\.lm_head/aten::linear/MatMul",
)
DOWN_PROJ = r"__module\.model\.layers\.\d+\.mlp\.down_proj/aten::linear/MatMul"


@dataclass(frozen=True, kw_only=True)
class Variant:
    name: str  # PRECISION= and the artifact directory under exports/<checkpoint>/
    weight_format: str
    inference_precision: str  # INFERENCE_PRECISION_HINT (python_backend/openvino/pipeline.py)
    kv_cache_precision: str  # KV_CACHE_PRECISION
    bars: Bars
    summary: str
    keep_fp32: tuple[str, ...] = ()  # int8: nodes whose weights stay FP32 (nncf ignored-scope patterns)
    # int8: DYNAMIC_QUANTIZATION_GROUP_SIZE written in the IR's runtime_options, which the CPU plugin
    # reads when the gate or the serving pipeline compiles it; 0: f32 activations; None: the plugin's 32.
    dynamic_quantization_group_size: int | None = None

    def __post_init__(self) -> None:
        if self.weight_format not in WEIGHT_FORMATS:
            raise ValueError(f"{self.name}: weight_format must be one of {WEIGHT_FORMATS}")
        compression = self.keep_fp32 or self.dynamic_quantization_group_size is not None
        if compression and self.weight_format != "int8":
            raise ValueError(f"{self.name}: keep_fp32 and dynamic_quantization_group_size need int8 weights")

    def compression(self) -> dict | None:
        """compress.py's recipe; None: the FP32 export as it is."""
        if self.weight_format == "fp32":
            return None
        return {
            "mode": "int8_asym",
            "ignored_patterns": list(self.keep_fp32),
            "dq_group_size": self.dynamic_quantization_group_size,
        }

    def as_dict(self) -> dict:
        """JSON form (tuples as lists), as the manifest stores it and export() compares it. The int8
        knobs appear only when set: the manifests of the variants without them stay as they were, so
        those are not rebuilt and gated again."""
        data = {k: v for k, v in asdict(self).items() if k != "summary"}
        if not self.keep_fp32:
            del data["keep_fp32"]
        if self.dynamic_quantization_group_size is None:
            del data["dynamic_quantization_group_size"]
        return json.loads(json.dumps(data))


VARIANTS = {
    v.name: v
    for v in (
        Variant(
            name="ov-fp32",
            weight_format="fp32",
            inference_precision="f32",
            kv_cache_precision="f32",
            bars=FP32_BARS,
            summary="FP32 weights, f32 compute and KV cache",
        ),
        Variant(
            name="ov-bf16",
            weight_format="fp32",
            inference_precision="bf16",
            kv_cache_precision="u8",
            bars=INT8_BARS,
            summary="FP32 weights computed in BF16, u8 KV cache",
        ),
        Variant(
            name="ov-int8",
            weight_format="int8",
            inference_precision="f32",
            kv_cache_precision="u8",
            keep_fp32=(*TIED_EMBEDDING, DOWN_PROJ),
            dynamic_quantization_group_size=0,
            bars=INT8_BARS,
            summary="INT8 weights per channel (embedding / LM head and down_proj FP32), f32 activations and "
            "compute, u8 KV cache",
        ),
    )
}


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown OpenVINO variant {name!r}; one of {', '.join(VARIANTS)}") from None
