"""What an HF checkpoint (or a ModelOpt export of one) tells the PyTorch path before it is served.

The LLM API loads the checkpoint itself, so its limits come from its config.json: the context it
was trained for (max_position_embeddings) bounds max_seq_len. A ModelOpt export carries
hf_quant_config.json (Model-Optimizer examples/llm_ptq/hf_ptq.py writes it through
modelopt/torch/export/unified_export_hf.py, docs/upstream/trtllm-llm-api.md e), whose
`quantization.quant_algo` names the recipe.

Precisions on this path: the formats TensorRT-LLM 1.2.1's PyTorch backend loads (its
features/quantization doc: FP8, NVFP4, W4A16 AWQ, ...). INT8 SmoothQuant (W8A8) is not in that
list, so int8_sq is refused here, whichever way it is asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# precision -> hf_quant_config.json quant_algo (None: an unquantized checkpoint, dtype decides)
PRECISIONS = {"fp16": None, "bf16": None, "fp8": "FP8", "nvfp4": "NVFP4", "int4_awq": "W4A16_AWQ"}
REFUSED = {
    "int8_sq": (
        "INT8 SmoothQuant (W8A8) is not among the formats TensorRT-LLM 1.2.1's PyTorch backend loads "
        "(NVIDIA/TensorRT-LLM gh-pages 58fb435e 1.2.1/_sources/features/quantization.md.txt); serve it "
        "on the engine path (GPU_ENGINE=trt PRECISION=int8_sq) or quantize to fp8 / int4_awq"
    )
}
SMOOTHQUANT_ALGO_PREFIX = "W8A8_SQ"  # TensorRT-LLM's QuantAlgo names for SmoothQuant: W8A8_SQ_PER_...
DEFAULT_MAX_SEQ_LEN = 4096  # as the engine path's default build (trtllm/recipes.EngineBuildConfig)


def check_precision(precision: str) -> None:
    if precision in REFUSED:
        raise ValueError(f"precision {precision}: {REFUSED[precision]}")
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision {precision!r} on the PyTorch path: one of {', '.join(PRECISIONS)} "
            f"({', '.join(REFUSED)} refused)"
        )


@dataclass(frozen=True)
class CheckpointFacts:
    directory: Path
    max_position_embeddings: int | None  # None: config.json does not say
    quant_algo: str | None  # from hf_quant_config.json; None: not a ModelOpt export

    @classmethod
    def read(cls, directory: Path) -> CheckpointFacts:
        directory = Path(directory)
        config = directory / "config.json"
        if not config.is_file():
            raise FileNotFoundError(f"{directory}: no config.json (not an HF checkpoint directory)")
        try:
            cfg = json.loads(config.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{config}: not JSON: {exc}") from exc
        quant = directory / "hf_quant_config.json"
        algo = None
        if quant.is_file():
            algo = json.loads(quant.read_text()).get("quantization", {}).get("quant_algo")
        return cls(
            directory=directory, max_position_embeddings=cfg.get("max_position_embeddings"), quant_algo=algo
        )

    def check(self, precision: str) -> None:
        """Refuse a SmoothQuant export, and a precision the checkpoint does not hold."""
        if self.quant_algo and self.quant_algo.startswith(SMOOTHQUANT_ALGO_PREFIX):
            raise ValueError(
                f"{self.directory / 'hf_quant_config.json'}: quant_algo {self.quant_algo}: "
                f"{REFUSED['int8_sq']}"
            )
        check_precision(precision)
        expected = PRECISIONS[precision]
        if self.quant_algo != expected:
            has = f"quant_algo {self.quant_algo}" if self.quant_algo else "no hf_quant_config.json"
            raise ValueError(
                f"--precision {precision} but {self.directory} has {has}: quantize it with "
                f"`make quantize-gpu` (precision {precision}) or give the precision it holds"
            )

    def max_seq_len(self, requested: int | None) -> int:
        """The requested max_seq_len, or min(4096, the model's context); never above the model's context."""
        limit = self.max_position_embeddings
        if requested is None:
            return min(DEFAULT_MAX_SEQ_LEN, limit) if limit else DEFAULT_MAX_SEQ_LEN
        if limit and requested > limit:
            raise ValueError(
                f"max_seq_len {requested} is above the model's max_position_embeddings {limit} "
                f"({self.directory / 'config.json'})"
            )
        return requested
