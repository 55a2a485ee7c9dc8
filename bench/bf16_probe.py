"""Does BF16 compute pay in our engine? PyTorch's oneDNN BF16 against ONNX Runtime's FP32, side by side.

Issue 15 asks for a BF16 variant if it pays on this CPU (AVX512-BF16), measured on the runtimes that
have a BF16 path before choosing one. ONNX Runtime's CPU kernels have none. This probe builds the
export's decoder in PyTorch (the FP32 export's own weights, read from its ONNX initializers) with
BF16 MatMuls (oneDNN, FP32 accumulation) and FP32 norms, attention and KV cache, and times it
against our ONNX Runtime runner on the same calls, each runtime in processes of its own (their
thread pools spin after a call and would slow each other), alternating:

- a decode step of 16 sequences at positions 280-295 (the engine's step at 16 streams);
- a 256-token prefill chunk.

It also prints how far BF16's logits are from FP32's on the decode step. docs/PERFORMANCE.md has the
figures and what they decided. OpenVINO, the other runtime with a BF16 path, is measured by
`make bench PEERS=1` (its own pipeline) and in PERFORMANCE.md's probe notes.

    .venv/bin/python -m bench.bf16_probe [--export artifacts/exports/smollm2-135m-instruct/onnx-fp32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from python_backend.engine.runner import ModelRunner

BF16 = torch.bfloat16
DEFAULT_EXPORT = Path("artifacts/exports/smollm2-135m-instruct/onnx-fp32")


def _initializers(onnx_dir: Path) -> dict[str, torch.Tensor]:
    """FP32 initializers by name. External data is read here: onnx.load refuses a data file with
    several hard links, which assembled repositories make."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False)
    out = {}
    for t in model.graph.initializer:
        if t.data_type != TensorProto.FLOAT:
            continue
        if t.data_location == TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            data = np.fromfile(
                onnx_dir / info["location"],
                dtype=np.float32,
                count=int(np.prod(t.dims)),
                offset=int(info.get("offset", 0)),
            ).reshape(tuple(t.dims))
        else:
            data = numpy_helper.to_array(t)
        out[t.name] = torch.from_numpy(np.ascontiguousarray(data))
    return out


class TorchBf16Decoder:
    """SmolLM2's decoder (Llama: RMSNorm, rotary halves, GQA, SiLU MLP, tied head) over slot KV
    tensors [slots, kv_heads, positions, head_dim], the same layout as the engine's."""

    def __init__(self, onnx_dir: Path, num_slots: int, max_len: int):
        genai = json.loads((onnx_dir / "genai_config.json").read_text())["model"]
        dec = genai["decoder"]
        self.layers, self.heads, self.kv_heads, self.dim = (
            dec["num_hidden_layers"],
            dec["num_attention_heads"],
            dec["num_key_value_heads"],
            dec["head_size"],
        )
        w = _initializers(onnx_dir)

        def linear(*names):  # the export's [in, out] MatMul weights → F.linear's [out, in], bf16
            return torch.cat([w[n] for n in names], 1).t().to(BF16).contiguous()

        p = "model.layers.{}."
        self.w = [
            dict(
                norm1=w[p.format(i) + "input_layernorm.weight"],
                norm2=w[p.format(i) + "post_attention_layernorm.weight"],
                qkv=linear(p.format(i) + "attn.qkv_proj.MatMul.weight"),
                o=linear(p.format(i) + "attn.o_proj.MatMul.weight"),
                gate_up=linear(
                    p.format(i) + "mlp.gate_proj.MatMul.weight", p.format(i) + "mlp.up_proj.MatMul.weight"
                ),
                down=linear(p.format(i) + "mlp.down_proj.MatMul.weight"),
            )
            for i in range(self.layers)
        ]
        self.final_norm = w[f"model.layers.{self.layers}.final_norm_layernorm.weight"]
        self.embed = w["lm_head.MatMul.weight"].t().contiguous()
        self.head = linear("lm_head.MatMul.weight")
        self.cos, self.sin = w["cos_cache"], w["sin_cache"]
        shape = (num_slots, self.kv_heads, max_len, self.dim)
        self.keys = [torch.zeros(shape) for _ in range(self.layers)]
        self.values = [torch.zeros(shape) for _ in range(self.layers)]

    @staticmethod
    def _norm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * weight

    @torch.inference_mode()
    def __call__(self, tokens: list[list[int]], starts: list[int], num_logits: int = 1) -> np.ndarray:
        """Rows of tokens at positions starts[b]... of slots 0..B-1; logits [B, num_logits, V]."""
        ids = torch.tensor(tokens)
        batch, length = ids.shape
        positions = torch.tensor(starts)[:, None] + torch.arange(length)
        total = max(starts) + length
        causal = batch == 1 and starts[0] == 0
        mask = None if causal else (torch.arange(total)[None, None] <= positions[:, :, None])[:, None]
        cos, sin = self.cos[positions][:, :, None], self.sin[positions][:, :, None]
        rows = torch.arange(batch)[:, None].expand(batch, length)

        def rotate(t):
            a, b = t.chunk(2, -1)
            return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

        x = self.embed[ids]
        for i, w in enumerate(self.w):
            qkv = F.linear(self._norm(x, w["norm1"]).to(BF16), w["qkv"]).float()
            q, k, v = qkv.split(
                [self.heads * self.dim, self.kv_heads * self.dim, self.kv_heads * self.dim], -1
            )
            self.keys[i][rows, :, positions] = rotate(k.view(batch, length, self.kv_heads, self.dim))
            self.values[i][rows, :, positions] = v.view(batch, length, self.kv_heads, self.dim)
            attn = F.scaled_dot_product_attention(
                rotate(q.view(batch, length, self.heads, self.dim)).transpose(1, 2),
                self.keys[i][:batch, :, :total],
                self.values[i][:batch, :, :total],
                attn_mask=mask,
                is_causal=causal,
                scale=self.dim**-0.5,
                enable_gqa=True,
            )
            x = x + F.linear(attn.transpose(1, 2).reshape(batch, length, -1).to(BF16), w["o"]).float()
            gate, up = F.linear(self._norm(x, w["norm2"]).to(BF16), w["gate_up"]).float().chunk(2, -1)
            x = x + F.linear((F.silu(gate) * up).to(BF16), w["down"]).float()
        return F.linear(self._norm(x[:, -num_logits:], self.final_norm).to(BF16), self.head).float().numpy()


def _measure(export: Path, runtime: str, rounds: int) -> dict:
    """Median ms of each call for one runtime, in this process alone (ONNX Runtime's and PyTorch's
    thread pools spin after a call: in one process each would slow the other)."""
    torch.set_num_threads(2)
    runner = ModelRunner(export, num_slots=16, max_seq_len=1024, intra_op_threads=2)
    prompt = [int(t) for t in np.random.default_rng(0).integers(100, 40000, 300)]
    for slot in range(16):  # slot s holds 280 + s positions, computed by ONNX Runtime in FP32
        runner.prefill(slot, prompt[: 280 + slot], 0)
    rows = [(7, 280 + s) for s in range(16)]
    if runtime == "fp32":
        decode, prefill = (lambda: runner.decode(rows)), (lambda: runner.prefill(15, prompt[:256], 0))
    else:
        bf16 = TorchBf16Decoder(export, num_slots=16, max_len=1025)
        bf16.keys, bf16.values = (
            [torch.from_numpy(a) for a in arrays] for arrays in (runner.kv.keys, runner.kv.values)
        )
        decode, prefill = (
            (lambda: bf16([[t] for t, _ in rows], [p for _, p in rows])),
            (lambda: bf16([prompt[:256]], [0])),
        )
    out = {"decode": [], "prefill": []}
    for _ in range(rounds):
        for name, call in (("decode", decode), ("prefill", prefill)):
            start = time.perf_counter()
            call()
            out[name].append(time.perf_counter() - start)
    logits = decode()
    return {
        **{k: float(np.median(v) * 1e3) for k, v in out.items()},
        "argmax": np.asarray(logits).reshape(16, -1).argmax(-1).tolist(),
        "logits_row0": np.asarray(logits).reshape(16, -1)[0, :2048].tolist(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=3, help="processes per runtime, alternating")
    parser.add_argument("--runtime", choices=("fp32", "bf16"), help="measure one runtime here and print JSON")
    args = parser.parse_args(argv)
    if args.runtime:
        print(json.dumps(_measure(args.export, args.runtime, args.rounds)))
        return 0
    results = {"fp32": [], "bf16": []}
    for _ in range(args.pairs):
        for runtime in results:
            command = [
                sys.executable,
                "-m",
                "bench.bf16_probe",
                "--export",
                str(args.export),
                "--rounds",
                str(args.rounds),
                "--runtime",
                runtime,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[runtime].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for call, label in (
        ("decode", "decode step, 16 sequences at positions 280-295"),
        ("prefill", "prefill chunk, 256 tokens"),
    ):
        fp32 = np.median([r[call] for r in results["fp32"]])
        bf16 = np.median([r[call] for r in results["bf16"]])
        print(
            f"{label}: ONNX Runtime FP32 {fp32:.1f} ms, PyTorch BF16 {bf16:.1f} ms, "
            f"BF16 speed-up {fp32 / bf16:.2f}x"
        )
    a, b = results["fp32"][0], results["bf16"][0]
    diff = np.abs(np.asarray(a["logits_row0"]) - np.asarray(b["logits_row0"])).max()
    agree = np.mean(np.asarray(a["argmax"]) == np.asarray(b["argmax"]))
    print(
        f"decode logits: max |BF16 - FP32| {diff:.3f} (first 2,048 of row 0), "
        f"top-1 agreement {agree:.0%} of 16 rows"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
