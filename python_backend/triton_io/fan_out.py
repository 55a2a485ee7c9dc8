"""One Triton request to the CPU engine model → the engine's sequences: batch rows × siblings.

A request may hold a batch of prompts (batch dim first, input_ids padded, input_lengths each row's
length): each row is a prompt of its own to the engine, as TensorRT-LLM splits a batch, and each
prompt runs num_return_sequences sibling sequences (sibling i samples with seed + i when a seed is
given). Each prompt gets one arrival time (unique in this process: postprocessing's key, shared by
its siblings), each sequence an engine id made of the request's id, its [batch item] and
/sibling, and the indexes its responses carry (TensorRT-LLM writes batch_index only for a batch of
several prompts, sequence_index only for several sequences).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..contract.errors import InputError
from ..contract.trtllm_backend.lora import WEIGHTS_WITHOUT_CONFIG
from ..engine.sequence import SamplingParams
from . import requests as req
from .requests import Getter
from .responses import Asked
from .trtllm_lora import TrtllmLora, squeeze_request


@dataclass(frozen=True)
class Item:
    """One prompt (batch row) of a request, read and checked."""

    prompt_ids: list[int]
    sequences: list[SamplingParams]  # one per sibling sequence (num_return_sequences)
    exclude_input: bool  # exclude_input_in_output: output_ids without the prompt
    asked: Asked
    # tensorrtllm_backend's LoRA inputs: lora_task_id (its sequences run adapter "task-<id>") and,
    # when sent, the adapter's lora_weights / lora_config (engine_lora.py registers them)
    lora_task_id: int | None = None
    lora_upload: TrtllmLora | None = None


@dataclass(frozen=True)
class SequencePlan:
    """One engine sequence and how its responses name it."""

    engine_id: str
    params: SamplingParams
    batch_index: int | None
    sequence_index: int | None


@dataclass(frozen=True)
class PromptPlan:
    """One prompt and its sequences: the engine's unit of submit_batch."""

    item: Item
    arrival_ns: int
    sequences: list[SequencePlan]


def read_item(get: Getter, exclude_input_default: bool) -> Item:
    """One batch row of an engine request, read and checked (InputError names the input)."""
    prompt = get("input_ids").reshape(-1)
    length = req.scalar(get, "input_lengths", int, prompt.size)
    req.refuse_beam_search(get)
    params = req.sampling_params(
        get,
        req.scalar(get, "request_output_len", int, required=True),
        req.scalar(get, "end_id", int, None),
    )
    lora_name = req.scalar(get, "lora_name", str)  # the adapter (engine_lora.py loads it)
    task_id, upload = read_lora_task(get)
    if task_id is not None:
        if lora_name:
            raise InputError("lora_task_id: send the adapter as lora_name or as lora_task_id, not both")
        lora_name = task_name(task_id)
    if lora_name:
        params = replace(params, lora_name=lora_name)
    asked = Asked(
        log_probs=params.return_log_probs,
        logits=params.return_generation_logits,
        context_logits=params.return_context_logits,
        num_input_tokens=req.scalar(get, "return_num_input_tokens", bool, False),
        num_output_tokens=req.scalar(get, "return_num_output_tokens", bool, False),
        perf_metrics=req.scalar(get, "return_perf_metrics", bool, False),
    )
    return Item(
        prompt_ids=prompt[:length].tolist(),
        sequences=req.sibling_params(params, req.num_return_sequences(get)),
        exclude_input=req.scalar(get, "exclude_input_in_output", bool, exclude_input_default),
        asked=asked,
        lora_task_id=task_id,
        lora_upload=upload,
    )


def task_name(task_id: int) -> str:
    """The engine's name for the adapter a tensorrtllm_backend client sends as lora_task_id."""
    return f"task-{task_id}"


def read_lora_task(get: Getter) -> tuple[int | None, TrtllmLora | None]:
    """lora_task_id and, if sent, lora_weights / lora_config, read as the backend reads them
    (docs/upstream/lora.md §1.1): without a task id there is no LoRA, even if weights are sent; a
    task id with one of the two matrices but not the other is the backend's refusal."""
    task_id = req.scalar(get, "lora_task_id", int)
    if task_id is None:
        return None, None
    weights, config = get("lora_weights"), get("lora_config")
    if (weights is None) != (config is None):
        raise InputError(f"lora_weights: {WEIGHTS_WITHOUT_CONFIG}")
    return task_id, None if weights is None else squeeze_request(weights, config)


def read_items(get: Getter, parameters_json: str, exclude_input_default: bool) -> list[Item]:
    """Every batch row of a request; the request parameter speculative_draft_len, when given,
    applies to each of their sequences."""
    items = req.each_row(req.batch_rows(get, "input_ids"), lambda row: read_item(row, exclude_input_default))
    draft_len = req.speculative_draft_len(parameters_json)
    if draft_len is None:
        return items
    return [
        replace(item, sequences=[replace(p, speculative_draft_len=draft_len) for p in item.sequences])
        for item in items
    ]


def sequence_id(request_id: str, batch_index: int, batch_size: int, index: int, count: int) -> str:
    """The engine's id of one sequence: the request's, plus [batch item] and /sibling when several."""
    batch = f"[{batch_index}]" if batch_size > 1 else ""
    sibling = f"/{index}" if count > 1 else ""
    return request_id + batch + sibling


def fan_out(items: list[Item], request_id: str, arrivals: Callable[[], int]) -> list[PromptPlan]:
    """The engine sequences of a request's items; `arrivals()` gives each prompt its arrival time."""
    prompts = []
    for batch_index, item in enumerate(items):
        count = len(item.sequences)
        sequences = [
            SequencePlan(
                engine_id=sequence_id(request_id, batch_index, len(items), index, count),
                params=params,
                batch_index=batch_index if len(items) > 1 else None,
                sequence_index=index if count > 1 else None,
            )
            for index, params in enumerate(item.sequences)
        ]
        prompts.append(PromptPlan(item, arrivals(), sequences))
    return prompts
