"""GPU data sheets: memory, memory bandwidth, dense tensor-core peaks and the link TP all-reduces cross.

Every figure is the maker's headline number. NVIDIA's sheets print tensor-core peaks "with sparsity"
(2:4 structured); a dense GEMM gets half of that, so the table keeps the dense half and says so in
`note`. The roofline (roofline.py) never sees a peak without an efficiency factor fitted on published
measurements (calibration.py): these are ceilings, not predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TERA = 1e12
GB = 1e9
GIB = 1 << 30


@dataclass(frozen=True)
class GpuSpec:
    name: str
    memory_gib: float  # what the planner may fill; an "80 GB" part has 80 GiB (plan.py)
    bandwidth_bytes_s: float  # HBM/GDDR peak, bytes per second
    # Dense tensor-core peak per compute precision, FLOP/s (or OP/s for int8); a missing key means the
    # GPU has no tensor-core path for it (A100 has no FP8, only Blackwell has FP4).
    dense_flops: dict = field(default_factory=dict)
    link_bytes_s: float = 0.0  # one direction, per GPU: NVLink or PCIe, for TP all-reduce
    source: str = ""
    read_via: str = ""  # where the figures were read for this table (the maker's page is `source`)
    date: str = ""  # when they were read
    note: str = ""

    def __post_init__(self) -> None:
        if self.memory_gib <= 0 or self.bandwidth_bytes_s <= 0 or self.link_bytes_s <= 0:
            raise ValueError(f"{self.name}: memory, bandwidth and link must be positive")
        if not self.dense_flops:
            raise ValueError(f"{self.name}: no tensor-core peaks")

    def peak(self, compute: str) -> float:
        if compute not in self.dense_flops:
            have = ", ".join(sorted(self.dense_flops))
            raise ValueError(f"{self.name} has no {compute} tensor-core path (it has {have})")
        return self.dense_flops[compute]


_SPARSE_NOTE = "tensor-core peaks are half the data sheet's 'with sparsity' figures"

GPUS: dict[str, GpuSpec] = {
    "H100": GpuSpec(
        name="H100 SXM5 80GB",
        memory_gib=80,
        bandwidth_bytes_s=3.35 * 1e12,
        dense_flops={"bf16": 989.4 * TERA, "fp16": 989.4 * TERA, "fp8": 1978.9 * TERA, "int8": 1978.9 * TERA},
        link_bytes_s=450 * GB,  # NVLink 4: 900 GB/s bidirectional
        source="https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM data sheet)",
        read_via="https://archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html (NVIDIA's SXM table, "
        "'* Shown with sparsity'); https://glennklockwood.com/garden/processors/h100 (dense 989.4/1978.9)",
        date="2026-12-06",
        note=_SPARSE_NOTE,
    ),
    "H200": GpuSpec(
        name="H200 SXM 141GB",
        memory_gib=141,
        bandwidth_bytes_s=4.8 * 1e12,
        # Same GH100 compute as H100 SXM; only the memory (HBM3e) differs.
        dense_flops={"bf16": 989.4 * TERA, "fp16": 989.4 * TERA, "fp8": 1978.9 * TERA, "int8": 1978.9 * TERA},
        link_bytes_s=450 * GB,
        source="https://www.nvidia.com/en-us/data-center/h200/ (H200 SXM data sheet)",
        read_via="https://glennklockwood.com/garden/processors/h100 ('H200 GPUs are the same as H100 GPUs "
        "... with HBM3e'); bandwidth and size from the NVIDIA page",
        date="2026-12-06",
        note=_SPARSE_NOTE,
    ),
    "B200": GpuSpec(
        name="B200 180GB (HGX B200, 1000 W)",
        memory_gib=180,
        bandwidth_bytes_s=8.0 * 1e12,
        dense_flops={
            "bf16": 2250 * TERA,
            "fp16": 2250 * TERA,
            "fp8": 4500 * TERA,
            "int8": 4500 * TERA,
            "fp4": 9000 * TERA,
        },
        link_bytes_s=900 * GB,  # NVLink 5: 1.8 TB/s bidirectional
        source="https://www.nvidia.com/en-us/data-center/hgx/ (HGX B200: 8 GPUs, 1.4 TB, 64 TB/s, "
        "FP4 144 PF / FP8 72 PF / BF16 36 PF with sparsity)",
        read_via="https://glennklockwood.com/garden/processors/B200 (HGX variant at 1,000 W, per GPU); "
        "https://docs.vultr.com/inference-cookbook/cuda/getting-started/hardware-overview (8.0 TB/s)",
        date="2026-12-06",
        note=_SPARSE_NOTE + "; TensorRT-LLM's own tables call it 'B200 180GB'",
    ),
    "L40S": GpuSpec(
        name="L40S 48GB",
        memory_gib=48,
        bandwidth_bytes_s=864 * GB,
        dense_flops={"bf16": 362.05 * TERA, "fp16": 362.05 * TERA, "fp8": 733 * TERA, "int8": 733 * TERA},
        link_bytes_s=32 * GB,  # no NVLink: PCIe Gen4 x16, 64 GB/s bidirectional
        source="https://www.nvidia.com/en-us/data-center/l40s/ (L40S data sheet)",
        read_via="https://www.mullet.se/product.html?product_id=355414 (NVIDIA's L40/L40S table, "
        "'* With Sparsity')",
        date="2026-12-06",
        note=_SPARSE_NOTE + "; INT8 TOPS taken equal to FP8 (the table lists L40 INT8 = L40 FP8)",
    ),
    "A100": GpuSpec(
        name="A100 SXM4 80GB",
        memory_gib=80,
        bandwidth_bytes_s=2039 * GB,
        dense_flops={"bf16": 312 * TERA, "fp16": 312 * TERA, "int8": 624 * TERA},
        link_bytes_s=300 * GB,  # NVLink 3: 600 GB/s bidirectional
        source="https://www.nvidia.com/en-us/data-center/a100/ (A100 80GB SXM data sheet: 2,039 GB/s, "
        "BF16 312 TF, INT8 624 TOPS dense)",
        read_via="NVIDIA A100 data sheet figures as printed without sparsity; "
        "https://github.com/jinseok-moon/llm_workload README quotes the A100 whitepaper's 312 TF dense",
        date="2026-12-06",
        note="no FP8 tensor cores (Ampere)",
    ),
}


def gpu(name: str) -> GpuSpec:
    key = name.upper()
    if key not in GPUS:
        raise ValueError(f"unknown GPU {name!r}: one of {', '.join(GPUS)}")
    return GPUS[key]
