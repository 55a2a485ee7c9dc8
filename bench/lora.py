"""The multi-LoRA rows (issue 27): 16 streams over 4 adapters mixed with base-model requests, beside
base-only rows, through the Triton ensemble and with the engine called directly.

Through Triton (`triton_rows`, the issue's row): `make bench`'s 16-stream workload (its prompts, 16
streaming gRPC clients, exactly max_tokens tokens per request) on two servers up at once: the plain
one (bench's default repository, LoRA off) and one whose repository serves ADAPTERS from a LORA_DIR
(the LoRA-capable export, max_loras 4). `triton_lora_plain` is base-only on the plain server,
`triton_lora_base` base-only on the LoRA server and `triton_lora_mixed` the LoRA server with, of
every 16 requests, 4 on the base model and 3 on each of the 4 adapters, each request naming its
adapter in the ensemble's `lora_name` input, so that every batched step mixes rows with different
adapters and rows with none.

With the engine called in-process (`engine_rows`, runners.engine_batch): the same three workloads on
the plain export and on the LoRA-capable one (`engine_lora_*`), so that the two sets show how much of
LoRA's cost is the engine's and how much Triton adds.

Fresh prompts: every row's every round sends its prompts tagged with a number of its own
(workload.tagged, 8 tokens at the start of each user message), so no prompt is ever sent twice. With
the 16-stream row's prompts repeating every round, the plain server's prefix cache served most of
each round's prompts from the round before (3146 of 4173 prompt tokens), while on the LoRA server the
base-only and mixed rows overwrote each other's entries and adapter requests never reuse the base
model's (the cache is tagged by adapter, python_backend/engine/lora.py): the rows compared cache luck.
Now each request prefills all of its prompt but what prompts share in production: the chat
template's system turn, and its tag among its own row's round (base requests among themselves, each
adapter's among its own, as the cache is tagged by adapter). So the rows are comparable with each
other, not with `make bench`'s 16-stream row (`triton_ensemble`): the same prompts and token counts
but 8 tokens more per prompt, and none of a prompt taken from an earlier round's cache.

The adapters are made here from the bundled model, as the test adapters are
(build_engines/lora/adapters.py), with their own seeds and ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from build_engines.lora.adapters import ALL_MODULES, AdapterRecipe, load_base, make_adapter
from build_engines.lora.export import export_lora

from . import processes, runners, workload
from .stats import row

ROOT = Path(__file__).resolve().parent.parent
STREAMS = 16
BASE_EVERY = 4  # every 4th stream asks for the base model: 4 of the 16
# The engine's LoRA limits (make serve's MAX_LORAS / MAX_LORA_RANK defaults): every adapter resident.
LORA_CONFIG = {"max_loras": 4, "max_lora_rank": 16}
# The LoRA server's ports in `make bench`, beside the plain server's 30000-30002 (below Linux's
# ephemeral range, as those are).
PORTS = (30003, 30004, 30005)
# Ranks 4 to 16: adapters of different ranks share one step (the engine packs each at its own rank).
ADAPTERS = tuple(
    AdapterRecipe(
        name=f"bench-lora-{i}",
        seed=100 + i,
        rank=rank,
        alpha=2 * rank,
        target_modules=ALL_MODULES,
        b_std=0.1,
    )
    for i, rank in enumerate((16, 8, 8, 4))
)

# One workload's round: the requests of a slice, their prompts tagged with the given key →
# (samples, wall seconds).
Round = Callable[[slice, int], tuple[list, float]]


def mix(n: int, names: list[str]) -> list[str | None]:
    """Request i's adapter: stream i % STREAMS asks for the base model (None) when it is a multiple
    of BASE_EVERY, and otherwise for the adapters in turn, so each adapter gets the same share."""
    out: list[str | None] = []
    for i in range(n):
        stream = i % STREAMS
        if stream % BASE_EVERY == 0:
            out.append(None)
        else:
            lora_streams_before = stream - stream // BASE_EVERY - 1
            out.append(names[lora_streams_before % len(names)])
    return out


def make_adapters(checkpoint_dir: Path, output: Path) -> dict[str, Path]:
    """ADAPTERS under `output` (written again on every run: a few seconds, always these bytes)."""
    output.mkdir(parents=True, exist_ok=True)
    model = load_base(checkpoint_dir)
    return {recipe.name: make_adapter(model, recipe, output) for recipe in ADAPTERS}


def interleave(workloads: dict[str, Round], n: int, first_key: int = 0) -> list[dict]:
    """Each workload's row over requests [0, n), run in rounds of STREAMS requests, the workloads
    taking turns (plain, base-only, mixed; then base-only, mixed, plain; ...). Each row sums its
    rounds: all their samples, their wall times added. Each (round, workload) gets its own prompt
    key, from `first_key` up: the same prompts in every row, tagged apart, so that no row finds a
    whole prompt in a cache, neither from an earlier round nor from another row of this one (the
    base-only and mixed rows share the LoRA server, and the mixed row's base requests would reuse
    the base-only row's prompts of the same round).

    On a shared machine whose load drifts over minutes, rows run one after another compare the load
    of different minutes (one such run here put the mixed row at 4.2× the base-only one);
    interleaved rounds share it. Each round starts with the next workload, so that over 3 rounds
    each takes each place once: what a round's first batch pays (or the last gains) is shared out."""
    samples: dict[str, list] = {name: [] for name in workloads}
    wall = dict.fromkeys(workloads, 0.0)
    order = list(workloads)
    for round_index, start in enumerate(range(0, n, STREAMS)):
        batch = slice(start, start + STREAMS)
        shift = round_index % len(order)
        for name in order[shift:] + order[:shift]:
            key = first_key + round_index * len(order) + order.index(name)
            got, seconds = workloads[name](batch, key)
            samples[name] += got
            wall[name] += seconds
    return [row(name, "fp32", STREAMS, samples[name], wall[name]) for name in workloads]


def engine_rows(
    checkpoint_dir: Path, plain_dir: Path, adapter_dir: Path, prompt_ids, max_tokens: int
) -> list[dict]:
    """engine_lora_plain, engine_lora_base and engine_lora_mixed: the plain export and the LoRA-capable
    one derived from it (derived on first use, then reused), adapters written to `adapter_dir`, on
    two engines started once, each round's STREAMS requests submitted at once. `prompt_ids` are
    rendered by the chat template (as `python -m bench` makes them): each is decoded, tagged in its
    user message and encoded again (byte-level BPE gives back the same ids around the tag)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
    lora_dir = export_lora(checkpoint_dir, plain_dir)
    adapters = make_adapters(checkpoint_dir, adapter_dir)
    names = mix(len(prompt_ids), list(adapters))
    plain = runners.start_engine(plain_dir, STREAMS, prompt_ids[0])
    lora = runners.start_engine(lora_dir, STREAMS, prompt_ids[0], lora=LORA_CONFIG, adapters=adapters)

    def on(engine, lora_names) -> Round:
        def run(batch: slice, key: int):
            fresh = [
                tokenizer.encode(workload.tagged(tokenizer.decode(ids), key), add_special_tokens=False)
                for ids in prompt_ids[batch]
            ]
            return runners.engine_batch(engine, fresh, max_tokens, lora_names[batch] if lora_names else None)

        return run

    try:
        return interleave(
            {
                "engine_lora_plain": on(plain, None),
                "engine_lora_base": on(lora, None),
                "engine_lora_mixed": on(lora, names),
            },
            len(prompt_ids),
        )
    finally:
        plain.shutdown()
        lora.shutdown()


def lora_inputs(names: list[str | None]) -> list[dict]:
    """Each request's own ensemble inputs: its adapter's name in `lora_name` (None: the input is not
    sent, and the request runs on the base model)."""
    return [{"lora_name": name} for name in names]


def triton_rows(
    checkpoint_dir: Path,
    plain_dir: Path,
    adapter_dir: Path,
    plain_url: str,
    prompts: list[str],
    max_tokens: int,
    ports: tuple[int, int, int] = PORTS,
) -> list[dict]:
    """triton_lora_plain, triton_lora_base and triton_lora_mixed: the plain server at `plain_url`
    (already up) and a LoRA server started here on `ports` over the LoRA-capable export of
    `plain_dir`, serving ADAPTERS written to `adapter_dir` (its LORA_DIR); 16 clients each send one
    request of a round, as the 16-stream row's do."""
    lora_export = export_lora(checkpoint_dir, plain_dir)
    names = mix(len(prompts), list(make_adapters(checkpoint_dir, adapter_dir)))
    server = processes.cpu_server(
        "bench-fp32-lora", checkpoint_dir, lora_export, ports, adapter_dir=adapter_dir, **LORA_CONFIG
    )
    with server:
        lora_url = server.options.grpc_url

        def on(url: str, own: list[dict] | None, tokens: int) -> Round:
            def run(batch: slice, key: int):
                return runners.triton_streams(
                    url,
                    [workload.tagged(text, key) for text in prompts[batch]],
                    tokens,
                    STREAMS,
                    per_request=own[batch] if own else None,
                    warm_up=False,
                )

            return run

        workloads = {
            "triton_lora_plain": (plain_url, None),
            "triton_lora_base": (lora_url, None),
            "triton_lora_mixed": (lora_url, lora_inputs(names)),
        }
        # Untimed: the first STREAMS requests of each workload (the mix repeats with that period),
        # 2 tokens each, so that every adapter is loaded into its slot before the first timed
        # round. Their prompts have keys of their own (0 to 2): the timed rounds find only the
        # chat template's system turn in the prefix cache, as a later round would.
        for key, (url, own) in enumerate(workloads.values()):
            on(url, own, 2)(slice(0, STREAMS), key)
        timed = {name: on(url, own, max_tokens) for name, (url, own) in workloads.items()}
        return interleave(timed, len(prompts), first_key=len(workloads))


def main(argv=None) -> int:
    """`python -m bench.lora [--quick] [--port-base N] [--sets engine triton]`: only these rows, on
    `make bench`'s prompts and plan (fp32), with their ratios (what `make bench` prints among the
    rest): the engine rows, then the plain server and the LoRA server on ports N to N+5 and the
    Triton rows (--sets: only one of the two)."""
    import argparse

    from transformers import AutoTokenizer

    from build_engines import checkpoint
    from build_engines.onnx import export as onnx_export

    from . import report

    parser = argparse.ArgumentParser(prog="python -m bench.lora", description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="make bench QUICK=1's plan")
    parser.add_argument("--port-base", type=int, default=30000, help="the servers' 6 ports start here")
    parser.add_argument(
        "--sets", nargs="+", choices=("engine", "triton"), default=["engine", "triton"], help="which rows"
    )
    args = parser.parse_args(argv)
    p = workload.plan(args.quick)
    ckpt = checkpoint.resolve(None, ROOT / "artifacts")
    tokenizer = AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    prompt_ids = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for t in workload.prompts(p["engine_requests"])
    ]
    plain = onnx_export.export(ckpt, ROOT / "artifacts" / "exports" / ckpt.name, "fp32")
    adapter_dir = ROOT / "build" / "bench-lora-adapters"
    found = []
    if "engine" in args.sets:
        found += _print(engine_rows(ckpt, plain, adapter_dir, prompt_ids, p["max_tokens"]))
    if "triton" in args.sets:
        ports = tuple(range(args.port_base, args.port_base + 6))
        with processes.cpu_server("bench-lora-plain", ckpt, plain, ports[:3]) as server:
            prompts = workload.prompts(p["streams"][16])
            url = server.options.grpc_url
            found += _print(triton_rows(ckpt, plain, adapter_dir, url, prompts, p["max_tokens"], ports[3:]))
    print("\n".join(report.ratios(found, stream_interval=1, draft_len=0)))
    return 0


def _print(rows: list[dict]) -> list[dict]:
    for r in rows:
        print(
            f"  {r['engine']:<18} c={r['concurrency']} {r['output_tok_s']:>8.1f} tok/s  "
            f"TTFT p50 {r['ttft_p50_s']:.3f}s  TPOT p50 {r['tpot_p50_s'] or 0:.4f}s",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
