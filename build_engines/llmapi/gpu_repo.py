"""`gpu-repo --gpu-engine pytorch`: the command line read into a PytorchRepoRequest, then a dry run's report
or the repository (repository.py). Refusals raise ValueError / FileNotFoundError; cli.py prints them."""

from __future__ import annotations

import sys
from pathlib import Path

from . import arguments
from .checkpoint_facts import CheckpointFacts
from .repository import PytorchRepoRequest, assemble, describe, mount_path, plan_repo
from .settings import CudaGraphSettings, KvCacheSettings


def request_from_args(args) -> PytorchRepoRequest:
    return PytorchRepoRequest(
        checkpoint=args.checkpoint,
        output=args.output,
        precision=args.precision,
        repo_mount_path=args.repo_mount_path,
        checkpoint_path=args.checkpoint_path,
        bundle_checkpoint=args.bundle_checkpoint,
        tp=args.tp,
        pp=args.pp,
        max_batch_size=args.max_batch_size,
        max_num_tokens=args.max_num_tokens,
        max_seq_len=args.max_seq_len,
        max_input_len=args.max_input_len,
        gather_logits=args.gather_logits,
        kv_cache=KvCacheSettings(
            free_gpu_memory_fraction=args.kv_cache_free_gpu_memory_fraction,
            max_tokens=args.kv_cache_max_tokens,
            enable_block_reuse=args.enable_block_reuse,
            host_cache_size=args.host_cache_size,
            dtype=args.kv_cache_dtype,
        ),
        cuda_graph=CudaGraphSettings(
            enabled=args.cuda_graphs,
            max_batch_size=args.cuda_graph_max_batch_size,
            enable_padding=args.cuda_graph_padding,
        ),
        speculative=args.speculative,
        guided_decoding_backend=None
        if args.guided_decoding_backend == "none"
        else args.guided_decoding_backend,
        max_queue_size=args.max_queue_size,
        max_queue_delay_microseconds=args.max_queue_delay_us,
        gpu_device_ids=args.gpu_device_ids,
        gpu=args.gpu,
        cancellation_check_period_ms=args.cancellation_check_period_ms,
        stats_check_period_ms=args.stats_check_period_ms,
        lora_dir=args.lora_dir,
        lora=arguments.lora_settings(args),
    )


def cmd_gpu_repo(argv: list[str]) -> int:
    args = arguments.gpu_repo_parser().parse_args(argv)
    req = request_from_args(args)
    if args.dry_run:
        # A checkpoint not on this host yet (`make gpu-repo GPU_ENGINE=pytorch DRY_RUN=1` anywhere) is
        # planned from the flags; plan_repo's note says what could not be checked.
        has_config = (Path(req.checkpoint) / "config.json").is_file()
        plan = plan_repo(req, facts=CheckpointFacts.read(req.checkpoint) if has_config else None)
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
        print(describe(req, plan))
        return 0
    out = assemble(req)
    print(f"[gpu-repo] PyTorch-path model repository ready: {out}", file=sys.stderr)
    print(
        f"[gpu-repo] assembled for tritonserver to see it at {mount_path(req)}: serve it from there, or "
        "assemble it again with --repo-mount-path set to the path the server sees",
        file=sys.stderr,
    )
    return 0
