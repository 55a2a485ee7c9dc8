"""GPU subcommands for `python -m build_engines`: plan, engine, gpu-repo, launch (what each one does).

`register(subparsers)` adds them to the main parser, with the arguments arguments.py declares;
each handler prints `error: ...` and exits 2 on a refused request, so the message is the same
whichever entry point ran it. gpu-check, which runs these four and then the acceptance checks,
is `python -m acceptance gpu-check` (acceptance/gpu_check/).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from . import (
    arguments,
    engine_build,
    engine_facts,
    environment,
    launcher,
    lora_arguments,
    plan,
    recipes,
    repository,
    storage,
)
from .lookahead import LOOKAHEAD


def _handle(func):
    def wrapper(args) -> int:
        try:
            return func(args) or 0
        except (ValueError, FileNotFoundError, environment.GpuEnvironmentError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    wrapper.__name__ = func.__name__
    return wrapper


@_handle
def cmd_plan(args) -> int:
    req = plan.PlanRequest(
        dtype=args.dtype,
        tp=args.tp,
        pp=args.pp,
        gpu_mem_gb=args.gpu_mem_gb,
        context=args.context,
        quant=args.quant,
        kv_dtype=args.kv_dtype,
        gather_logits=args.gather_logits,
        max_batch_size=args.max_batch_size,
        max_num_tokens=args.max_num_tokens,
        logits_dtype=args.logits_dtype,
        lora=lora_arguments.build_from_args(args),
        lora_adapters=args.lora_adapters,
    )
    result = plan.plan_from_file(args.config, req)
    disk = storage.storage_from_file(args.config, result, req)  # what the chart's size values must hold
    if args.json:
        sizes = {
            **asdict(disk),
            "download_size_limit": disk.download_size_limit,
            "build_claim_size": disk.build_claim_size,
            "tmp_size_limit": disk.tmp_size_limit,
        }
        print(json.dumps({**asdict(result), "storage": sizes}, indent=2))
    else:
        print(plan.format_plan(result, req))
        print(storage.format_storage(disk))
    return 0


@_handle
def cmd_engine(args) -> int:
    cfg = recipes.EngineBuildConfig(
        precision=args.precision,
        checkpoint=args.checkpoint,
        output=args.output,
        tp=args.tp,
        pp=args.pp,
        max_batch_size=args.max_batch_size,
        max_input_len=args.max_input_len,
        max_seq_len=args.max_seq_len,
        max_num_tokens=args.max_num_tokens,
        dtype=args.dtype,
        gather_logits=args.gather_logits,
        lookahead=args.lookahead,
        lora=lora_arguments.build_from_args(args),
        work_dir=args.work_dir,
        **({"examples_dir": args.examples_dir} if args.examples_dir else {}),
    )
    engine_dir = engine_build.run(cfg, dry_run=args.dry_run)
    if engine_dir is not None:
        print(f"[engine] {cfg.precision} engine ready: {engine_dir}", file=sys.stderr)
    return 0


@_handle
def cmd_gpu_repo(args) -> int:
    req = repository.GpuRepoRequest(
        engine_dir=args.engine_dir,
        tokenizer_dir=args.tokenizer_dir,
        output=args.output,
        triton_max_batch_size=args.triton_max_batch_size,
        max_queue_size=args.max_queue_size,
        max_queue_delay_microseconds=args.max_queue_delay_us,
        kv_cache_free_gpu_mem_fraction=None
        if args.kv_cache_free_gpu_mem_fraction == 0
        else args.kv_cache_free_gpu_mem_fraction,
        max_tokens_in_paged_kv_cache=args.max_tokens_in_paged_kv_cache,
        enable_kv_cache_reuse=args.enable_kv_cache_reuse,
        enable_chunked_context=args.enable_chunked_context,
        batch_scheduler_policy=args.batch_scheduler_policy,
        exclude_input_in_output=args.exclude_input_in_output,
        max_beam_width=args.max_beam_width,
        decoupled=args.decoupled,
        streaming=args.streaming,
        max_prompt_len=args.max_prompt_len,
        max_tokens=args.max_tokens,
        cancellation_check_period_ms=args.cancellation_check_period_ms,
        stats_check_period_ms=args.stats_check_period_ms,
        repo_mount_path=args.repo_mount_path,
        target_sm=args.target_sm,
        target_trtllm_version=args.target_trtllm_version,
        lookahead=args.lookahead,
        lora=lora_arguments.cache_request_from_args(args),
    )
    if args.dry_run:
        # An engine not built yet (e.g. `make gpu-repo DRY_RUN=1` after a dry-run build) is described
        # by the build settings it will have.
        planned = engine_facts.EngineFacts(
            max_batch_size=args.max_batch_size,
            max_input_len=args.max_input_len,
            max_seq_len=args.max_seq_len,
            max_num_tokens=args.max_num_tokens,
            max_beam_width=1,
            use_paged_context_fmha=recipes.uses_paged_context_fmha(args.precision),
            tp=args.tp,
            pp=args.pp,
            source=f"the planned {args.precision} engine (not built yet; --precision, --max-batch-size etc.)",
            gather_logits=args.gather_logits,
            lora=lora_arguments.planned_engine_lora(args),
            # --lookahead describes the planned engine too: built for exactly those sizes.
            **(
                {"speculative_decoding_mode": LOOKAHEAD, "max_draft_len": args.lookahead.max_draft_len}
                if args.lookahead
                else {}
            ),
        )
        plan = repository.plan_repo(req, planned=planned)
        for note in plan.notes:
            repository.print_note(note)
        print(repository.describe(req, plan))
        return 0
    out = repository.assemble_gpu(req)
    print(f"[gpu-repo] model repository ready: {out}", file=sys.stderr)
    print(f"[gpu-repo] {mount_summary(req)}", file=sys.stderr)
    return 0


def mount_summary(req: repository.GpuRepoRequest) -> str:
    """Which path the repository was assembled for: it serves only from there."""
    mount = repository.mount_path(req)
    chosen = (
        "--repo-mount-path" if req.repo_mount_path else "the Helm chart's mount path (no --repo-mount-path)"
    )
    return (
        f"assembled for tritonserver to see it at {mount} ({chosen}): serve it from there, or assemble "
        "it again with --repo-mount-path set to the path the server sees"
    )


@_handle
def cmd_launch(args) -> int:
    cfg = launcher.LaunchConfig(
        model_repo=args.model_repo,
        tp=args.tp,
        pp=args.pp,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        tritonserver=args.tritonserver,
        mpirun=args.mpirun,
    )
    return launcher.launch(cfg, dry_run=args.dry_run)


def register(subparsers) -> None:
    arguments.add_plan(subparsers).set_defaults(func=cmd_plan)
    arguments.add_engine(subparsers).set_defaults(func=cmd_engine)
    arguments.add_gpu_repo(subparsers).set_defaults(func=cmd_gpu_repo)
    arguments.add_launch(subparsers).set_defaults(func=cmd_launch)


def run(args) -> int:
    return args.func(args)
