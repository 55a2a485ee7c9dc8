"""`python -m client COMMAND`: talk to the triton-llm server from a terminal.

Commands: generate (one prompt), chat (a multi-turn conversation read from stdin), health,
models (the served model and its composing models), batch (a JSONL file, resumable; see
client/batch.py). Each has --help. Exit status: 0 success, 1 a server or connection error
(message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .api import LLMClient
from .errors import AdapterNotFoundError, ServerError
from .retry import RetryPolicy
from .types import GenerateRequest


def _client(args) -> LLMClient:
    url = args.url or ("localhost:8001" if args.protocol == "grpc" else "localhost:8000")
    return LLMClient(
        url,
        protocol=args.protocol,
        timeout_s=args.timeout,
        retry=RetryPolicy(attempts=max(1, getattr(args, "retries", 0) + 1)),
    )


def cmd_generate(args) -> int:
    ids = token_ids(args.prompt) if args.token_ids else None
    request = GenerateRequest(
        "" if ids else args.prompt,
        prompt_token_ids=ids,
        logit_bias=dict(args.logit_bias) or None,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        stop=tuple(args.stop),
        chat=args.chat and not ids,  # token ids are the prompt as the engine runs it: no template
        speculative_draft_len=args.speculative_draft_len,
        lora_name=args.lora,
    )
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


def token_ids(text: str) -> tuple[int, ...]:
    """--token-ids: the prompt as token ids separated by commas or spaces ("9707, 11, 1879")."""
    try:
        ids = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--token-ids: the prompt must be integers, got {text!r}") from None
    if not ids:
        raise argparse.ArgumentTypeError("--token-ids: the prompt holds no token id")
    return ids


def bias_pair(text: str) -> tuple[int, float]:
    """--logit-bias ID=BIAS: a value added to token ID's logit (OpenAI's logit_bias)."""
    token, sep, bias = text.partition("=")
    try:
        return int(token), float(bias)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TOKEN_ID=BIAS such as 21285=5, got {text!r}") from None


def cmd_health(args) -> int:
    ready = _client(args).ready()
    print("ready" if ready else "not ready")
    return 0 if ready else 1


def cmd_chat(args) -> int:
    """One user turn per stdin line; the whole conversation goes to the server each turn (as a
    JSON message list with the chat template applied) and the reply streams to stdout."""
    client = _client(args)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        messages.append({"role": "user", "content": line.rstrip("\n")})
        request = GenerateRequest.chat_messages(
            messages,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            lora_name=args.lora,
        )
        parts = []
        try:
            for chunk in client.stream(request):
                parts.append(chunk)
                print(chunk, end="", flush=True)
        except ServerError as exc:
            messages.pop()  # the turn failed: keep the conversation as the server last saw it
            print(f"\nerror ({type(exc).__name__}): {exc}", file=sys.stderr)
            if not interactive:
                return 1
            continue
        print(flush=True)
        messages.append({"role": "assistant", "content": "".join(parts)})


def cmd_models(args) -> int:
    models = _client(args).models()
    if args.json:
        print(json.dumps([dataclasses.asdict(m) for m in models], indent=2))
        return 0
    print(f"{'MODEL':<16} {'VERSIONS':<9} {'PLATFORM':<10} {'READY':<6} INPUTS -> OUTPUTS")
    for m in models:
        print(
            f"{m.name:<16} {','.join(m.versions):<9} {m.platform:<10} {'yes' if m.ready else 'no':<6} "
            f"{', '.join(m.inputs)} -> {', '.join(m.outputs)}"
        )
    return 0


def cmd_batch(args) -> int:
    from .batch import run_cli

    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m client", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
        p.add_argument("--url", default=None, help="server address (default localhost:8001 gRPC, :8000 HTTP)")
        p.add_argument("--timeout", type=float, default=300.0, help="seconds before giving up on a request")
        p.add_argument(
            "--retries",
            type=int,
            default=2,
            help="resend a request the server refused as overloaded or could not reach, with "
            "backoff, before any answer arrived (default %(default)s)",
        )

    def lora(p):
        p.add_argument(
            "--lora",
            metavar="NAME",
            default=None,
            help="answer with this LoRA adapter of the base model (a sub-directory of the server's "
            "adapter directory, LORA_DIR); unset: the base model",
        )

    p = sub.add_parser("generate", help="generate text for one prompt")
    p.add_argument("prompt")
    p.add_argument("--stream", action="store_true", help="print text as it is generated")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=None, help="0 or unset: greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument(
        "--speculative-draft-len",
        type=int,
        default=None,
        help="prompt-lookup draft tokens per step, 0-8 (0: off; unset: the server's default)",
    )
    p.add_argument(
        "--chat",
        dest="chat",
        action="store_true",
        default=True,
        help="apply the model's chat template (default)",
    )
    p.add_argument("--raw", dest="chat", action="store_false", help="send the prompt as plain text")
    p.add_argument(
        "--token-ids",
        action="store_true",
        help='the prompt is token ids ("9707,11,1879"), sent as they are (no chat template)',
    )
    p.add_argument(
        "--logit-bias",
        type=bias_pair,
        action="append",
        default=[],
        metavar="ID=BIAS",
        help="add BIAS to token ID's logit (repeatable; the server takes any finite value)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    lora(p)
    common(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("chat", help="a multi-turn conversation: one user turn per line of stdin")
    p.add_argument("--system", default=None, help="a system message to start the conversation")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=None, help="0 or unset: greedy")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    lora(p)
    common(p)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("health", help="exit 0 when the server is ready")
    common(p)
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("models", help="list the served model and the models it is composed of")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common(p)
    p.set_defaults(func=cmd_models)

    from .batch import add_arguments

    p = sub.add_parser(
        "batch",
        help="generate for every record of a JSONL file (resumable)",
        description='Reads {"id", "prompt", optional "max_tokens", "temperature", "chat"} '
        'per line; writes {"id", "text", "output_tokens", "finish_reason"} or '
        '{"id", "error"} per line in input order. Rerun the same command to resume.',
    )
    add_arguments(p)
    common(p)
    # A long job rides out overload (its concurrency may exceed the engine's queue).
    p.set_defaults(func=cmd_batch, retries=5)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AdapterNotFoundError as exc:
        print(
            f"error: the server has no LoRA adapter {exc.adapter or args.lora!r} (adapters are the "
            f"sub-directories of its adapter directory, LORA_DIR): {exc}",
            file=sys.stderr,
        )
        return 1
    except ServerError as exc:
        print(f"error ({type(exc).__name__}, {exc.status}): {exc}", file=sys.stderr)
        return 1
    except argparse.ArgumentTypeError as exc:  # a value only the command could read (--token-ids)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (TimeoutError, ConnectionError, OSError) as exc:
        print(f"error: cannot reach the server at {args.url or 'localhost'}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
