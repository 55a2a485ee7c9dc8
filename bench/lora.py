"""The multi-LoRA rows (issue 27): 16 streams over 4 adapters mixed with base-model requests, beside
the base-only row on the same LoRA-capable engine and the plain export's base-only row.

All three are the engine called in-process (runners.engine_batch) on the same prompts, so their
ratios isolate what LoRA costs: `engine_lora_plain` the plain export, `engine_lora_base` the
LoRA-capable export with no adapter in any row, and `engine_lora_mixed` the same engine with 4 of
every 16 requests on the base model and 3 on each of 4 adapters, all resident (max_loras 4), so that
every batched step mixes rows with different adapters and rows with none. The adapters are made
here from the bundled model, as the test adapters are (build_engines/lora/adapters.py), with their
own seeds and ranks.
"""

from __future__ import annotations

from pathlib import Path

from build_engines.lora.adapters import ALL_MODULES, AdapterRecipe, load_base, make_adapter
from build_engines.lora.export import export_lora

from . import runners
from .stats import row

ROOT = Path(__file__).resolve().parent.parent
STREAMS = 16
BASE_EVERY = 4  # every 4th stream asks for the base model: 4 of the 16
# The engine's LoRA limits (make serve's MAX_LORAS / MAX_LORA_RANK defaults): every adapter resident.
LORA_CONFIG = {"max_loras": 4, "max_lora_rank": 16}
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


def rows(checkpoint_dir: Path, plain_dir: Path, adapter_dir: Path, prompt_ids, max_tokens: int) -> list[dict]:
    """engine_lora_plain, engine_lora_base and engine_lora_mixed: the plain export and the LoRA-capable
    one derived from it (derived on first use, then reused), adapters written to `adapter_dir`.

    The three workloads run interleaved, in rounds of STREAMS requests submitted at once (plain,
    base-only, mixed; then base-only, mixed, plain; ...), on two engines started once: the
    LoRA-capable engine serves both its rows, as the issue's comparison asks. On a shared machine
    whose load drifts over minutes, rows run one after another compare the load of different
    minutes (one such run here put the mixed row at 4.2× the base-only one); interleaved rounds
    share it. Each row sums its rounds: all their samples, their wall times added."""
    lora_dir = export_lora(checkpoint_dir, plain_dir)
    adapters = make_adapters(checkpoint_dir, adapter_dir)
    names = mix(len(prompt_ids), list(adapters))
    plain = runners.start_engine(plain_dir, STREAMS, prompt_ids[0])
    lora = runners.start_engine(lora_dir, STREAMS, prompt_ids[0], lora=LORA_CONFIG, adapters=adapters)
    workloads = {
        "engine_lora_plain": (plain, None),
        "engine_lora_base": (lora, None),
        "engine_lora_mixed": (lora, names),
    }
    samples: dict[str, list] = {row_name: [] for row_name in workloads}
    wall = dict.fromkeys(workloads, 0.0)
    order = list(workloads)
    try:
        for round_index, start in enumerate(range(0, len(prompt_ids), STREAMS)):
            batch = slice(start, start + STREAMS)
            # Each round starts with the next workload, so that over 3 rounds each takes each place
            # once: what a round's first batch pays (or the last gains) is shared out.
            shift = round_index % len(order)
            for row_name in order[shift:] + order[:shift]:
                engine, lora_names = workloads[row_name]
                got, seconds = runners.engine_batch(
                    engine, prompt_ids[batch], max_tokens, lora_names[batch] if lora_names else None
                )
                samples[row_name] += got
                wall[row_name] += seconds
    finally:
        plain.shutdown()
        lora.shutdown()
    return [row(row_name, "fp32", STREAMS, samples[row_name], wall[row_name]) for row_name in workloads]


def main(argv=None) -> int:
    """`python -m bench.lora [--quick]`: only these rows, on `make bench`'s prompts and plan, with
    their ratios (what `make bench` prints among the rest)."""
    import argparse

    from transformers import AutoTokenizer

    from build_engines import checkpoint
    from build_engines.onnx import export as onnx_export

    from . import report, workload

    parser = argparse.ArgumentParser(prog="python -m bench.lora", description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="make bench QUICK=1's plan")
    p = workload.plan(parser.parse_args(argv).quick)
    ckpt = checkpoint.resolve(None, ROOT / "artifacts")
    tokenizer = AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    prompt_ids = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for t in workload.prompts(p["engine_requests"])
    ]
    plain = onnx_export.export(ckpt, ROOT / "artifacts" / "exports" / ckpt.name, "fp32")
    found = rows(ckpt, plain, ROOT / "build" / "bench-lora-adapters", prompt_ids, p["max_tokens"])
    for r in found:
        print(f"  {r['engine']:<18} c={r['concurrency']} {r['output_tok_s']:>8.1f} tok/s", flush=True)
    print("\n".join(report.ratios(found, stream_interval=1, draft_len=0)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
