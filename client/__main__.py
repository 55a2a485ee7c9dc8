"""`python -m client COMMAND`: talk to the triton-llm server from a terminal."""

from __future__ import annotations

import argparse
import sys

from .api import GenerateRequest, LLMClient, ServerError


def _client(args) -> LLMClient:
    url = args.url or ("localhost:8001" if args.protocol == "grpc" else "localhost:8000")
    return LLMClient(url, protocol=args.protocol, timeout_s=args.timeout)


def cmd_generate(args) -> int:
    request = GenerateRequest(args.prompt, max_tokens=args.max_tokens, temperature=args.temperature,
                              top_k=args.top_k, top_p=args.top_p, seed=args.seed, stop=tuple(args.stop),
                              chat=args.chat)
    client = _client(args)
    if args.stream:
        for chunk in client.stream(request):
            print(chunk, end="", flush=True)
        print()
    else:
        result = client.generate(request)
        print(result.text)
        if args.verbose:
            print(f"[{result.output_tokens} tokens, {result.e2e_s:.2f} s]", file=sys.stderr)
    return 0


def cmd_health(args) -> int:
    ready = _client(args).ready()
    print("ready" if ready else "not ready")
    return 0 if ready else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m client", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
        p.add_argument("--url", default=None, help="server address (default localhost:8001 gRPC, :8000 HTTP)")
        p.add_argument("--timeout", type=float, default=300.0, help="seconds before giving up")

    p = sub.add_parser("generate", help="generate text for one prompt")
    p.add_argument("prompt")
    p.add_argument("--stream", action="store_true", help="print text as it is generated")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=None, help="0 or unset: greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--chat", dest="chat", action="store_true", default=True,
                   help="apply the model's chat template (default)")
    p.add_argument("--raw", dest="chat", action="store_false", help="send the prompt as plain text")
    p.add_argument("-v", "--verbose", action="store_true")
    common(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("health", help="exit 0 when the server is ready")
    common(p)
    p.set_defaults(func=cmd_health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ServerError as exc:
        print(f"error ({exc.status}): {exc}", file=sys.stderr)
        return 1
    except (TimeoutError, ConnectionError, OSError) as exc:
        print(f"error: cannot reach the server at {args.url or 'localhost'}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
