"""`python -m build_engines.trtllm COMMAND`: the GPU subcommands on their own (plan, engine, gpu-repo,
launch)."""

from __future__ import annotations

import argparse
import sys

from . import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m build_engines.trtllm", description=__doc__)
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
