"""`python -m client.openai_gateway`: serve the OpenAI-compatible API with uvicorn."""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import sys
from pathlib import Path

from ..settings import TlsFiles
from . import __doc__ as DESCRIPTION
from .access import KEYS_ENV, RateLimit, keys_from
from .config import MAX_BODY_BYTES, GatewayConfig

DEFAULT_TOKENIZER_DIR = Path("build/model_repository/preprocessing/1/tokenizer")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m client.openai_gateway",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--triton-grpc", default="localhost:8001", help="Triton's gRPC endpoint")
    parser.add_argument(
        "--tokenizer-dir",
        type=Path,
        default=None,
        help=f"tokenizer for usage.prompt_tokens (default {DEFAULT_TOKENIZER_DIR} if it exists)",
    )
    parser.add_argument(
        "--served-model-name",
        default=None,
        help="the model name /v1/models lists (default: the checkpoint's name from the model "
        "repository's manifest.json, else the Triton model's); the Triton model's name "
        "is accepted in requests too",
    )
    parser.add_argument("--triton-model", default="ensemble")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request before 504")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="larger bodies get 413")
    parser.add_argument("--log-level", default="info")
    lora = parser.add_argument_group("LoRA adapters (adapters.py, lora_admin.py)")
    lora.add_argument(
        "--lora-dir",
        type=Path,
        default=None,
        help="the adapter directory (LORA_DIR; make openai passes build/lora_adapters): each "
        'sub-directory is an adapter a request may name as its "model" (default: no adapters)',
    )
    lora.add_argument(
        "--allow-runtime-lora",
        action="store_true",
        help="serve POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's), which register "
        "and remove adapters in --lora-dir; off: the routes do not exist",
    )
    access = parser.add_argument_group("access (see access.py)")
    access.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"a key clients must send (repeatable; visible in `ps`: prefer ${KEYS_ENV}, "
        "comma-separated keys)",
    )
    access.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests/s per key (per client address without keys); past it 429 + Retry-After",
    )
    access.add_argument(
        "--rate-burst", type=int, default=None, help="bucket size (default: 2 × rate, at least 1)"
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS")
    tls.add_argument("--tls-key", type=Path, help="PEM key of --tls-cert")
    tls.add_argument("--tls-client-ca", type=Path, help="PEM CA: require client certificates it signed")
    tls.add_argument("--triton-ca", type=Path, help="PEM CA of Triton's gRPC certificate: connect over TLS")
    tls.add_argument("--triton-cert", type=Path, help="PEM client certificate for Triton (mutual TLS)")
    tls.add_argument("--triton-key", type=Path, help="PEM key of --triton-cert")
    return parser.parse_args(argv)


def checkpoint_name(tokenizer_dir: Path | None) -> str | None:
    """The served checkpoint's name: the last part of the path the repository's manifest.json records
    (tokenizer_dir is <repository>/preprocessing/1/tokenizer). The CPU assembly records `checkpoint`,
    gpu-repo the engine's manifest (`engine_manifest.checkpoint`) and the `tokenizer` it copied."""
    if tokenizer_dir is None:
        return None
    try:
        manifest = json.loads((Path(tokenizer_dir).resolve().parents[2] / "manifest.json").read_text())
    except (OSError, IndexError, ValueError):
        return None
    for path in (
        manifest.get("checkpoint"),
        (manifest.get("engine_manifest") or {}).get("checkpoint"),
        manifest.get("tokenizer"),
    ):
        if isinstance(path, str) and Path(path).name:
            return Path(path).name
    return None


def uvicorn_tls(args: argparse.Namespace) -> dict:
    if not (args.tls_cert or args.tls_key or args.tls_client_ca):
        return {}
    if not (args.tls_cert and args.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    options = {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)}
    if args.tls_client_ca:
        options |= {"ssl_ca_certs": str(args.tls_client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tokenizer_dir = args.tokenizer_dir or (DEFAULT_TOKENIZER_DIR if DEFAULT_TOKENIZER_DIR.is_dir() else None)
    from .routes import AccessConfig, create_app

    try:
        triton_tls = (
            TlsFiles(args.triton_ca, args.triton_cert, args.triton_key)
            if args.triton_ca or args.triton_cert or args.triton_key
            else None
        )
        rate = (
            RateLimit(args.rate_limit, args.rate_burst or max(1, int(2 * args.rate_limit)))
            if args.rate_limit is not None
            else None
        )
        access = AccessConfig(tuple(keys_from(args.api_key)), rate)
        base_model = checkpoint_name(tokenizer_dir)
        served = args.served_model_name or base_model or args.triton_model
        lora_dir = args.lora_dir
        if args.allow_runtime_lora and (lora_dir is None or not lora_dir.is_dir()):
            raise ValueError(f"--allow-runtime-lora needs --lora-dir, an existing directory (got {lora_dir})")
        app = create_app(
            GatewayConfig(
                triton_grpc=args.triton_grpc,
                tokenizer_dir=tokenizer_dir,
                served_model_name=served,
                triton_model=args.triton_model,
                timeout_s=args.timeout,
                max_body_bytes=args.max_body_bytes,
                triton_tls=triton_tls,
                lora_dir=lora_dir,
                allow_runtime_lora=args.allow_runtime_lora,
                base_model=base_model,
            ),
            access,
        )
        tls = uvicorn_tls(args)
    except (FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("triton_llm.gateway").info("serving %s as %r", args.triton_model, served)
    logging.getLogger("triton_llm.gateway").info(
        "LoRA adapters from %s; runtime loading %s",
        lora_dir or "nowhere",
        "on" if args.allow_runtime_lora else "off",
    )
    logging.getLogger("triton_llm.gateway").info(
        "API keys: %d; rate limit: %s; TLS: %s",
        len(access.api_keys),
        f"{rate.rate:g}/s burst {rate.burst}" if rate else "none",
        "on" if tls else "off",
    )
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, **tls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
