"""Per-matrix quantization error: which MatMuls a recipe should keep in FP32.

For every nn.Linear of the FP32 PyTorch model, on held-out text, the relative output error
‖Ŷ − Y‖ / ‖Y‖ of MatMulNBits' CPU arithmetic emulated in NumPy: weights and (accuracy_level 4)
activations rounded to int8 per block along K, symmetric. Printed worst first, with the weight-only
and activation-only parts, so a recipe's `keep_fp32` follows a measurement:
`python -m build_engines.onnx.sensitivity [--block-size 32] [--top 20]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .reference import DATA

CALIBRATION_TOKENS = 256


def quantize_blocks(x: np.ndarray, block: int, bits: int = 8) -> np.ndarray:
    """x rounded to `bits`-bit signed integers with one scale per `block` values of the last axis."""
    shape = x.shape
    blocks = x.reshape(*shape[:-1], shape[-1] // block, block)
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(blocks).max(-1, keepdims=True) / qmax
    scale[scale == 0] = 1.0
    return (np.clip(np.round(blocks / scale), -qmax - 1, qmax) * scale).reshape(shape)


def profile(checkpoint_dir: Path, block: int = 32) -> list[dict]:
    """[{name, error, weight_error, activation_error}] for every Linear, worst first."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        checkpoint_dir, dtype=torch.float32, local_files_only=True
    ).eval()
    ids = tokenizer.encode((DATA / "heldout.txt").read_text(), add_special_tokens=False)[:CALIBRATION_TOKENS]
    inputs: dict[str, np.ndarray] = {}  # each Linear's input on the calibration text

    def recorder(name: str):
        def record(_module, args, _output) -> None:
            inputs[name] = args[0][0].numpy()

        return record

    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    hooks = [m.register_forward_hook(recorder(n)) for n, m in linears.items()]
    with torch.no_grad():
        model(torch.tensor([ids]))
    for h in hooks:
        h.remove()
    rows = []
    for name, module in linears.items():
        w = module.weight.detach().numpy()
        x = inputs[name]
        y = x @ w.T
        norm = np.linalg.norm(y)
        wq = quantize_blocks(w, block)
        xq = quantize_blocks(x, block)
        rows.append(
            {
                "name": name,
                "error": float(np.linalg.norm(xq @ wq.T - y) / norm),
                "weight_error": float(np.linalg.norm(x @ wq.T - y) / norm),
                "activation_error": float(np.linalg.norm(xq @ w.T - y) / norm),
            }
        )
    return sorted(rows, key=lambda r: -r["error"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--checkpoint", type=Path, default=Path("artifacts/checkpoints/smollm2-135m-instruct")
    )
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    rows = profile(args.checkpoint, args.block_size)
    for r in rows[: args.top]:
        print(
            f"{r['name']:44s} int8 w+a {r['error']:.4f}  weights {r['weight_error']:.4f}  "
            f"activations {r['activation_error']:.4f}"
        )
    print(f"median over {len(rows)} matrices: {np.median([r['error'] for r in rows]):.4f}")


if __name__ == "__main__":
    main()
