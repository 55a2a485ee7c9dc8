"""Runs inside AIConfigurator's own environment (AICONFIGURATOR_PYTHON), never imported by this package.

AIConfigurator 0.12 pins numpy 2, pandas 3 and pydantic 2, which our .venv does not share, so aic.py starts
this file with that interpreter: one JSON request on stdin, one JSON answer on stdout. One process for the
whole concurrency sweep, because each `aiconfigurator cli estimate` start costs ~15 s of imports here.

Request: {"model_path", "system", "isl", "osl", "tp", "pp", "gemm", "kv", "fmha", "ctx_tokens",
          "batch_sizes": [...]}
Answer:  {"version": "...", "points": [{"batch_size", "ttft_ms", "tpot_ms", "tokens_s_gpu", "error"}]}
"""

import json
import sys


def main() -> int:
    req = json.load(sys.stdin)
    from aiconfigurator.cli.api import cli_estimate  # only importable in AIConfigurator's environment

    points = []
    version = ""
    for batch in req["batch_sizes"]:
        try:
            res = cli_estimate(
                req["model_path"],
                req["system"],
                mode="agg",
                backend_name="trtllm",
                isl=req["isl"],
                osl=req["osl"],
                batch_size=batch,
                ctx_tokens=req["ctx_tokens"],
                tp_size=req["tp"],
                pp_size=req["pp"],
                gemm_quant_mode=req["gemm"],
                kvcache_quant_mode=req["kv"],
                fmha_quant_mode=req["fmha"],
            )
        except Exception as exc:  # one unsupported point must not hide the others
            points.append({"batch_size": batch, "error": f"{type(exc).__name__}: {exc}"})
            continue
        version = res.backend_version
        raw = res.raw if isinstance(res.raw, dict) else {}
        points.append(
            {
                "batch_size": batch,
                "ttft_ms": float(res.ttft),
                "tpot_ms": float(res.tpot),
                "tokens_s_gpu": raw.get("tokens/s/gpu"),
                "warning": res.kv_cache_warning,
            }
        )
    json.dump({"version": version, "points": points}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
