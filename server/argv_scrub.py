"""Blank a secret in a child process's command line once the child has read it.

Triton 2.51 takes the admin API key only as a command-line flag (`--http-restricted-api`,
`--grpc-restricted-protocol`: no file or environment variable), and /proc/PID/cmdline shows a
process's arguments to every local user (`ps`). Triton parses its flags into its own strings at the
top of main(), so once it runs, the argument memory is no longer read: the parent overwrites the
secret there through /proc/PID/mem (allowed to the parent by ptrace rules, like a debugger).

When main() has parsed them is not observable directly, and a guess (a delay after the loader) was
wrong under load: Triton then held the blanked key and refused the real one. So the scrub waits for
an effect of the parse: a backend library mapped from the `--backend-directory` Triton was given
(it loads backends while loading models, long after parsing the flags); readiness implies it too.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("triton_llm.server")


def _argument_span(pid: int) -> tuple[int, int]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # proc(5): arg_start and arg_end are fields 48 and 49; `fields` starts at field 3.
    return int(fields[45]), int(fields[46])


def flags_parsed(pid: int, backend_dir: Path) -> bool:
    """True once tritonserver has mapped a library from its backend directory, which it knows only
    from its parsed flags; False before, or if the process is gone."""
    try:
        return str(Path(backend_dir).resolve()).encode() + b"/" in Path(f"/proc/{pid}/maps").read_bytes()
    except OSError:
        return False


def scrub(pid: int, secret: str) -> bool:
    """Overwrite every occurrence of `secret` in the process's arguments with '*'; False if it could
    not (the process is gone, or ptrace rules forbid it): the key then stays visible."""
    needle = secret.encode()
    try:
        start, end = _argument_span(pid)
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            arguments = mem.read(end - start)
            if needle not in arguments:
                return True
            mem.seek(start)
            mem.write(arguments.replace(needle, b"*" * len(needle)))
        return True
    except (OSError, ValueError, IndexError) as exc:
        log.warning("could not hide the admin key from tritonserver's command line: %s", exc)
        return False
