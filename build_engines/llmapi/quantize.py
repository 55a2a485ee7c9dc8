"""`quantize-gpu`: a ModelOpt checkpoint the PyTorch backend loads (FP8, NVFP4, W4A16 AWQ), made by
Model-Optimizer's post-training quantization script.

The flags are those of NVIDIA/Model-Optimizer examples/llm_ptq/hf_ptq.py at tag 0.37.0
(df0882a63c39a001a1be384b680166a41259045c): the line TensorRT-LLM 1.2's requirements pin
(`nvidia-modelopt[torch]~=0.37.0`; docs/upstream/trtllm-llm-api.md e). Its HF export writes
hf_quant_config.json, which the LLM API reads to pick the quantized kernels, and which
`gpu-repo --gpu-engine pytorch --precision P` checks (checkpoint_facts.py).
int8_sq is producible (hf_ptq.py's QUANT_CFG_CHOICES has it) but TensorRT-LLM 1.2.1's PyTorch backend
does not load it: the command says so and still runs it only for the engine path's tooling.
A real run needs a CUDA GPU, `nvidia-modelopt` and a checkout of the Model-Optimizer examples; this
machine has none, so only --dry-run works here (it prints the command and each flag's source).
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import manifest
from ..trtllm import environment
from .checkpoint_facts import REFUSED

MODELOPT = (
    "NVIDIA/Model-Optimizer",
    "examples/llm_ptq/hf_ptq.py",
    "df0882a63c39a001a1be384b680166a41259045c",
)
MODELOPT_TAG = "0.37.0"
# recipe -> hf_ptq.py --qformat (QUANT_CFG_CHOICES keys at 0.37.0)
QFORMATS = {"fp8": "fp8", "nvfp4": "nvfp4", "int4_awq": "int4_awq", "int8_sq": "int8_sq"}
KV_QFORMATS = ("fp8", "none", "nvfp4", "nvfp4_affine")  # --kv_cache_qformat choices at 0.37.0
# The KV cache each recipe plans with (build_engines/capacity/memory.PRECISIONS: FP8 for fp8 and nvfp4,
# 16-bit for the weight-only and SmoothQuant ones), so the checkpoint made is the one the planner sized.
# hf_ptq.py's own default is fp8.
DEFAULT_KV_QFORMAT = {"fp8": "fp8", "nvfp4": "fp8", "int4_awq": "none", "int8_sq": "none"}
FLAG_NOTES = {
    "--pyt_ckpt_path": "the HF checkpoint to quantize (required)",
    "--qformat": "weight/activation format; QUANT_CFG_CHOICES (int4_awq = INT4_AWQ_CFG, W4A16 AWQ)",
    "--kv_cache_qformat": "KV-cache format (hf_ptq.py's default fp8; none keeps it 16-bit)",
    "--calib_size": 'calibration samples (default "512")',
    "--batch_size": "calibration batch (0: the largest that fits)",
    "--inference_tensor_parallel": "TP the export is laid out for (default 1)",
    "--inference_pipeline_parallel": "PP the export is laid out for (default 1)",
    "--export_fmt": "the unified HF export with hf_quant_config.json (tensorrt_llm: deprecated)",
    "--export_path": "where the quantized checkpoint is written",
}


@dataclass(frozen=True, kw_only=True)
class QuantizeRequest:
    checkpoint: Path
    output: Path
    precision: str = "fp8"
    kv_cache_qformat: str | None = None  # None: DEFAULT_KV_QFORMAT[precision]
    calib_size: int = 512
    tp: int = 1
    pp: int = 1
    examples_dir: Path = Path("Model-Optimizer/examples/llm_ptq")

    def __post_init__(self) -> None:
        if self.precision not in QFORMATS:
            raise ValueError(f"precision {self.precision!r}: one of {', '.join(QFORMATS)}")
        if self.kv_format not in KV_QFORMATS:
            raise ValueError(f"kv_cache_qformat {self.kv_format!r}: one of {', '.join(KV_QFORMATS)}")
        for name in ("calib_size", "tp", "pp"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def kv_format(self) -> str:
        return self.kv_cache_qformat or DEFAULT_KV_QFORMAT[self.precision]


def command(req: QuantizeRequest) -> list[str]:
    return [
        "python",
        str(req.examples_dir / "hf_ptq.py"),
        "--pyt_ckpt_path",
        str(req.checkpoint),
        "--qformat",
        QFORMATS[req.precision],
        "--kv_cache_qformat",
        req.kv_format,
        "--calib_size",
        str(req.calib_size),
        "--batch_size",
        "0",
        "--inference_tensor_parallel",
        str(req.tp),
        "--inference_pipeline_parallel",
        str(req.pp),
        "--export_fmt",
        "hf",
        "--export_path",
        str(req.output),
    ]


def describe(req: QuantizeRequest) -> str:
    repo, path, commit = MODELOPT
    cmd = command(req)
    lines = [
        f"# nvidia-modelopt[torch]~={MODELOPT_TAG} (the line TensorRT-LLM 1.2 pins); flags of {repo} {path} "
        f"@{commit} (tag {MODELOPT_TAG}):",
        *(f"#   {flag} {cmd[cmd.index(flag) + 1]}: {note}" for flag, note in FLAG_NOTES.items()),
    ]
    if req.precision in REFUSED:
        lines.append(f"# warning: {REFUSED[req.precision]}")
    if req.precision == "nvfp4":
        lines.append("# nvfp4 needs a Blackwell GPU (Model-Optimizer scripts/huggingface_example.sh)")
    lines.append(shlex.join(cmd))
    return "\n".join(lines)


def missing(req: QuantizeRequest) -> list[str]:
    problems = [p for p in environment.detect().missing() if "GPU" in p or "CUDA" in p]
    if importlib.util.find_spec("modelopt") is None:
        problems.append(
            f"nvidia-modelopt is not installed (pip install 'nvidia-modelopt[torch]~={MODELOPT_TAG}')"
        )
    if not (req.examples_dir / "hf_ptq.py").is_file():
        problems.append(
            f"{req.examples_dir / 'hf_ptq.py'} not found (git clone --branch {MODELOPT_TAG} "
            f"https://github.com/NVIDIA/Model-Optimizer.git; --examples-dir its examples/llm_ptq)"
        )
    if not (req.checkpoint / "config.json").is_file():
        problems.append(f"{req.checkpoint}: no config.json (not an HF checkpoint)")
    return problems


def run(req: QuantizeRequest, *, dry_run: bool) -> int:
    print(describe(req))
    if dry_run:
        return 0
    problems = missing(req)
    if problems:
        raise ValueError(
            f"cannot quantize on this machine: {'; '.join(problems)}. Nothing was run; --dry-run "
            "(make quantize-gpu DRY_RUN=1) prints the command"
        )
    subprocess.run(command(req), check=True)
    manifest.write(
        req.output,
        artifact="modelopt-checkpoint",
        precision=req.precision,
        kv_cache_qformat=req.kv_format,
        checkpoint=str(req.checkpoint),
        command=command(req),
        modelopt=manifest.tool_versions(("nvidia-modelopt", "torch", "transformers")),
    )
    return 0


def cmd_quantize(args) -> int:
    req = QuantizeRequest(
        checkpoint=args.checkpoint,
        output=args.output,
        precision=args.precision,
        kv_cache_qformat=args.kv_cache_qformat,
        calib_size=args.calib_size,
        tp=args.tp,
        pp=args.pp,
        examples_dir=args.examples_dir,
    )
    try:
        return run(req, dry_run=args.dry_run)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quantize-gpu",
        help="a ModelOpt checkpoint for the PyTorch GPU path (fp8, nvfp4, int4_awq)",
        description=__doc__,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="HF checkpoint directory")
    p.add_argument("--output", type=Path, required=True, help="the quantized checkpoint's directory")
    p.add_argument("--precision", choices=tuple(QFORMATS), default="fp8")
    p.add_argument(
        "--kv-cache-qformat",
        choices=KV_QFORMATS,
        default=None,
        help="default: fp8 for fp8 and nvfp4, else none",
    )
    p.add_argument("--calib-size", type=int, default=512)
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument(
        "--examples-dir",
        type=Path,
        default=QuantizeRequest.examples_dir,
        help="Model-Optimizer examples/llm_ptq",
    )
    p.add_argument("--dry-run", action="store_true", help="print the command and each flag's source")
    p.set_defaults(func=cmd_quantize)
