"""Runs the ONNX decoder over the slot KV cache: one ONNX Runtime call per prefill chunk or decode batch.

`run(plan)` computes one scheduler step (prefix copies, prefill chunks, one decode batch) and
samples a token for every sequence whose logits are due; the batch-row layout is decided here.

The model is an onnxruntime-genai builder export: inputs `input_ids [B, S]`, `attention_mask
[B, T]`, `past_key_values.{i}.{key,value} [B, kv_heads, P, head_dim]`; outputs `logits [B, S, V]`,
`present.{i}.*` aliasing past (GroupQueryAttention with a shared buffer: the new positions are
written in place at `sum(attention_mask) - S ... - 1` of each row). Binding past and present to
the same slot memory is what makes the cache copy-free.

Exports prune the LM head to the last `num_logits` positions of a call (an input:
build_engines/onnx/lm_head.py). Prefill and decode feed 1; `verify` feeds 1 + k to get the logits
after each of its positions. Exports built before that edit have no such input and cannot verify.

A LoRA-capable export (its lora.json; contract in lora_weights.py) also takes each row's adapter
mask and the resident adapters' stacked weights, which the runner binds from its AdapterTable
(zero-copy, like the cache): rows of one call may each use a different adapter, or none (slot 0).
A call in which no row has an adapter binds one zero column per projection instead, so base-model
traffic pays the branch's few extra nodes but not the adapters' columns. The weights are hundreds
of inputs that stay put between packings: they are bound once into an IOBinding kept across calls
(one for adapter calls, one for base-only calls), and each call binds only what changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .kv_cache import KVBuffers
from .lora import AdapterTable
from .lora_weights import MASK, LoraSpec
from .sampler import accept_draft, next_token, token_log_prob
from .scheduler import StepPlan
from .sequence import Sequence
from .step import StepResult


@dataclass(frozen=True)
class ExportShape:
    """The decoder sizes of an ONNX export (its genai_config.json) that lay out the KV cache."""

    num_layers: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int

    @classmethod
    def from_genai_config(cls, onnx_dir: Path) -> ExportShape:
        path = onnx_dir / "genai_config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{onnx_dir}: missing genai_config.json (not an ONNX decoder export?)")
        model = json.loads(path.read_text())["model"]
        decoder = model["decoder"]
        return cls(
            num_layers=decoder["num_hidden_layers"],
            kv_heads=decoder["num_key_value_heads"],
            head_dim=decoder["head_size"],
            vocab_size=model["vocab_size"],
            context_length=model["context_length"],
        )


VERIFY_UNAVAILABLE = "this export has no num_logits input (built before speculative decoding: re-export it)"


class ModelRunner:
    """max_loras, max_lora_rank: the adapter slots and rank fed to a LoRA-capable export (its
    `adapters` table); ignored for a plain export, whose `adapters` is None."""

    def __init__(
        self,
        onnx_dir: str | Path,
        num_slots: int,
        max_seq_len: int,
        intra_op_threads: int = 0,
        max_loras: int = 0,
        max_lora_rank: int = 16,
    ):
        onnx_dir = Path(onnx_dir)
        self.shape = ExportShape.from_genai_config(onnx_dir)
        if max_seq_len > self.shape.context_length:
            raise ValueError(
                f"max_seq_len {max_seq_len} exceeds the model's context length {self.shape.context_length}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.kv = KVBuffers(
            self.shape.num_layers, num_slots, self.shape.kv_heads, max_seq_len, self.shape.head_dim
        )
        self.max_seq_len = max_seq_len
        self._slot_stride = self.kv.keys[0][0].nbytes
        # What verify needs: exports built before lm_head.py have no num_logits input.
        self.can_verify = "num_logits" in {i.name for i in self.session.get_inputs()}
        spec = LoraSpec.read(onnx_dir)
        self.adapters = AdapterTable(spec, max_loras, max_lora_rank) if spec is not None else None
        # with adapters? → (the table's version when bound, the binding): see _binding
        self._bindings: dict[bool, tuple[int, ort.IOBinding]] = {}

    def run(self, plan: StepPlan) -> StepResult:
        """Compute `plan`; return what was drawn for each sequence that completed its prompt,
        decoded or verified a draft (one token, or several when draft tokens were accepted), in
        plan order (prefills, decodes, verifies), with the extras its request asked for."""
        for src, dst, length in plan.copies:
            self.kv.copy_prefix(src, dst, length)
        result = StepResult()
        for chunk in plan.prefills:
            logits = self.prefill(chunk.seq.slot, chunk.tokens, chunk.start, chunk.seq.adapter_slot)
            if chunk.seq.params.return_context_logits:  # one-token chunks: this position's logits
                result.context_logits[chunk.seq] = np.array(logits, dtype=np.float32, copy=True)
            if chunk.completes_prompt:
                _keep(result, chunk.seq, logits[None], [next_token(chunk.seq, logits)])
        if plan.decodes:
            rows = {
                slot: (0, min(position, self.kv.scratch_position))
                for slot, position in plan.idle_positions.items()
            }
            for seq in plan.decodes:
                rows[seq.slot] = (seq.tokens[-1], seq.num_computed)
            adapters = [0] * len(rows)
            for seq in plan.decodes:
                adapters[seq.slot] = seq.adapter_slot
            logits = self.decode([rows[slot] for slot in range(len(rows))], adapters)
            for seq in plan.decodes:
                row = logits[seq.slot]
                _keep(result, seq, logits[seq.slot : seq.slot + 1], [next_token(seq, row)])
        for item in plan.verifies:
            seq = item.seq
            logits = self.verify(seq.slot, [seq.tokens[-1], *item.draft], seq.num_computed, seq.adapter_slot)
            _keep(result, seq, logits, accept_draft(seq, logits, item.draft))
        return result

    def _bind_cache(self, binding: ort.IOBinding, first_slot: int, count: int) -> None:
        shape = [count, *self.kv.shape[1:]]
        offset = first_slot * self._slot_stride
        for i in range(self.shape.num_layers):
            for kind, arrays in (("key", self.kv.keys), ("value", self.kv.values)):
                ptr = arrays[i].ctypes.data + offset
                binding.bind_input(f"past_key_values.{i}.{kind}", "cpu", 0, np.float32, shape, ptr)
                binding.bind_output(f"present.{i}.{kind}", "cpu", 0, np.float32, shape, ptr)

    def _binding(self, adapter_slots: list[int] | None) -> ort.IOBinding:
        """The IOBinding for a call with these adapter slots, the LoRA inputs already bound: the
        table's stacks when a row has an adapter (bound again after a packing moved them), zero
        columns when none has. The caller binds the rest (rebinding a name replaces it)."""
        if self.adapters is None:
            return self.session.io_binding()
        rows = len(adapter_slots)
        with_adapters = any(adapter_slots)
        version = self.adapters.version if with_adapters else 0
        held = self._bindings.get(with_adapters)
        if held is None or held[0] != version:
            binding = self.session.io_binding()
            inputs = self.adapters.bindings() if with_adapters else self.adapters.zero_bindings()
            for name, shape, array in inputs:
                binding.bind_input(name, "cpu", 0, np.float32, shape, array.ctypes.data)
            held = (version, binding)
            self._bindings[with_adapters] = held
        binding = held[1]
        if with_adapters:
            binding.bind_cpu_input(MASK, self.adapters.mask(adapter_slots))
        else:
            binding.bind_cpu_input(MASK, np.zeros((rows, 1, 1), np.float32))
        return binding

    def _run(
        self,
        first_slot: int,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        num_logits: int = 1,
        adapter_slots: list[int] | None = None,
    ) -> np.ndarray:
        """adapter_slots: each row's adapter slot (None: no row has one)."""
        binding = self._binding(adapter_slots or [0] * input_ids.shape[0])
        binding.bind_cpu_input("input_ids", input_ids)
        binding.bind_cpu_input("attention_mask", attention_mask)
        if self.can_verify:
            binding.bind_cpu_input("num_logits", np.asarray([num_logits], dtype=np.int64))
        binding.bind_output("logits", "cpu")  # first output bound: index 0 below
        self._bind_cache(binding, first_slot, input_ids.shape[0])
        self.session.run_with_iobinding(binding)
        return binding.get_outputs()[0].numpy()

    def prefill(self, slot: int, tokens: list[int], start: int, adapter: int = 0) -> np.ndarray:
        """Compute positions [start, start+len(tokens)) of one slot; returns the last position's
        logits [V]. (Exports are built with a pruned LM head: a prefill computes logits for its
        last position only, which saves ~20 % of prefill time.)"""
        end = start + len(tokens)
        if end > self.max_seq_len:
            raise ValueError(f"prefill past max_seq_len: {end} > {self.max_seq_len}")
        input_ids = np.asarray([tokens], dtype=np.int64)
        mask = np.ones((1, end), dtype=np.int64)
        logits = self._run(slot, input_ids, mask, adapter_slots=[adapter])
        return logits[0, -1]

    def verify(self, slot: int, tokens: list[int], start: int, adapter: int = 0) -> np.ndarray:
        """Compute positions [start, start+len(tokens)) of one slot, as a prefill chunk does, and
        return the logits after each of `tokens` [len(tokens), V]. Entries written past what the
        caller keeps need no rollback: they lie past the sequence's length, where the next call
        overwrites them."""
        end = start + len(tokens)
        if end > self.max_seq_len:
            raise ValueError(f"verify past max_seq_len: {end} > {self.max_seq_len}")
        if not self.can_verify:
            raise RuntimeError(VERIFY_UNAVAILABLE)
        logits = self._run(
            slot,
            np.asarray([tokens], dtype=np.int64),
            np.ones((1, end), dtype=np.int64),
            num_logits=len(tokens),
            adapter_slots=[adapter],
        )
        return logits[0]

    def score(self, sequences: list[list[int]]) -> list[np.ndarray]:
        """The logits after each token of each sequence ([len(sequence), V] each), teacher-forced for
        quality checks: all of them decoded together one position per call, as a serving batch
        decodes (works whatever positions the graph's LM head computes). The k-th longest is in
        slot k, so the sequences still running at a position are always the leading slots."""
        if len(sequences) > self.kv.shape[0]:
            raise ValueError(f"{len(sequences)} sequences to score, {self.kv.shape[0]} slots")
        if any(len(tokens) > self.max_seq_len for tokens in sequences):
            raise ValueError(f"a sequence to score is longer than max_seq_len {self.max_seq_len}")
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        rows: list[list[np.ndarray]] = [[] for _ in sequences]
        for position in range(len(sequences[order[0]]) if sequences else 0):
            running = [i for i in order if len(sequences[i]) > position]
            logits = self.decode([(sequences[i][position], position) for i in running])
            for row, i in zip(logits, running, strict=True):
                rows[i].append(row)
        return [np.stack(r) for r in rows]

    def decode(self, rows: list[tuple[int, int]], adapters: list[int] | None = None) -> np.ndarray:
        """One decode step over slots [0, len(rows)): rows[s] = (token, position) writes the KV of
        `token` at `position` of slot s and returns its logits; result [len(rows), V].

        A slot with nothing to decode still takes part (one call needs contiguous slots): the
        caller gives it a position past the entries it holds, where the write harms nothing, and
        ignores its logits. Attention cost grows with the position, so that position is kept as
        small as possible (see StepPlan.idle_positions); the scratch position always qualifies.
        adapters[s]: slot s's adapter slot (None: no adapter anywhere).
        """
        n = len(rows)
        total = max(position for _, position in rows) + 1
        input_ids = np.asarray([[token] for token, _ in rows], dtype=np.int64)
        mask = np.zeros((n, total), dtype=np.int64)
        for i, (_, position) in enumerate(rows):
            mask[i, : position + 1] = 1
        logits = self._run(0, input_ids, mask, adapter_slots=adapters)
        return logits[:, -1]


def _keep(result: StepResult, seq: Sequence, rows: np.ndarray, tokens: list[int]) -> None:
    """Record the tokens drawn for `seq` from `rows` (row i gave tokens[i]), with the log probs
    and logits rows its request asked for. The rows are copied: the next call reuses the buffer."""
    result.tokens[seq] = tokens
    params = seq.params
    if params.return_log_probs:
        result.log_probs[seq] = [token_log_prob(row, token) for row, token in zip(rows, tokens, strict=False)]
    if params.return_generation_logits:
        result.logits[seq] = [np.array(row, dtype=np.float32, copy=True) for row in rows[: len(tokens)]]
