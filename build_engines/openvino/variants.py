"""The OpenVINO variants: optimum-intel's weight format, the CPU plugin's precision hints, and the
quality bars each must pass (the ONNX variants' bars, build_engines/onnx/recipes.py).

ov-bf16 is the FP32 export served with INFERENCE_PRECISION_HINT bf16: the weights stay FP32 on disk
and the plugin computes in BF16 (the weights converted when the model is compiled), so it shares
ov-fp32's files. KV cache precision: f32 for ov-fp32 (greedy must equal PyTorch's), u8 for the
others (the plugin quantizes the paged cache per token; the gate measures it, as the cache is part
of the serving path the gate runs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..onnx.recipes import FP32_BARS, INT8_BARS, Bars

WEIGHT_FORMATS = ("fp32", "int8")  # optimum-intel's --weight-format values used here


@dataclass(frozen=True, kw_only=True)
class Variant:
    name: str  # PRECISION= and the artifact directory under exports/<checkpoint>/
    weight_format: str
    inference_precision: str  # INFERENCE_PRECISION_HINT (python_backend/openvino/pipeline.py)
    kv_cache_precision: str  # KV_CACHE_PRECISION
    bars: Bars
    summary: str

    def __post_init__(self) -> None:
        if self.weight_format not in WEIGHT_FORMATS:
            raise ValueError(f"{self.name}: weight_format must be one of {WEIGHT_FORMATS}")

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "summary"}


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
            bars=INT8_BARS,
            summary="INT8 weights (optimum-intel --weight-format int8), f32 compute, u8 KV cache",
        ),
    )
}


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown OpenVINO variant {name!r}; one of {', '.join(VARIANTS)}") from None
