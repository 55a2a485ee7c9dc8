"""What FP32 PyTorch computes on the shipped data: the reference every ONNX export is measured against.

quality.py runs the export over the same prompts, held-out windows and questions and compares;
`Reference` is computed once, so the lab measures many variants against one reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"  # shared with bench/
GREEDY_TOKENS = 32
ANSWER_TOKENS = 32
WINDOW = 256  # tokens per held-out window


def questions() -> list[dict]:
    return json.loads((DATA / "questions.json").read_text())["questions"]


@dataclass(kw_only=True)
class Reference:
    """What FP32 PyTorch computes on the shipped data; token ids are the tokenizer's."""

    prompts: list[list[int]]  # test prompts, tokenized
    greedy: list[list[int]]  # PyTorch's first GREEDY_TOKENS greedy tokens per prompt
    greedy_logits: list[np.ndarray]  # [GREEDY_TOKENS, V] logits along that greedy path
    windows: list[list[int]]  # held-out windows of WINDOW + 1 tokens (inputs + the next token)
    window_logits: list[np.ndarray]  # [len(window) - 1, V]
    questions: list[list[int]]  # chat-templated question prompts
    answerable: list[bool]  # PyTorch's greedy answer to each question is correct
    end_ids: tuple[int, ...]
    tokenizer: object

    @classmethod
    def compute(cls, checkpoint_dir: Path) -> Reference:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            checkpoint_dir, dtype=torch.float32, local_files_only=True
        ).eval()
        prompts = [tokenizer.encode(p) for p in json.loads((DATA / "prompts.json").read_text())["prompts"]]
        text_ids = tokenizer.encode((DATA / "heldout.txt").read_text(), add_special_tokens=False)
        windows = [text_ids[s : s + WINDOW + 1] for s in range(0, len(text_ids) - 1, WINDOW)]
        windows = [w for w in windows if len(w) >= 2]
        greedy_logits = []
        with torch.no_grad():
            greedy = _torch_greedy(model, prompts, GREEDY_TOKENS)
            for ids, tokens in zip(prompts, greedy, strict=True):
                path = ids + tokens[:-1]
                greedy_logits.append(model(torch.tensor([path])).logits[0, len(ids) - 1 :].numpy())
            window_logits = [model(torch.tensor([w[:-1]])).logits[0].numpy() for w in windows]
        chats = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": q["question"]}], add_generation_prompt=True, tokenize=False
            )
            for q in questions()
        ]
        end_ids = tuple(
            i
            for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"))
            if isinstance(i, int)
        )
        asked = [tokenizer.encode(c, add_special_tokens=False) for c in chats]
        with torch.no_grad():
            answers = _torch_greedy(model, asked, ANSWER_TOKENS, end_ids)
        answerable = [
            answer_is_correct(q, tokenizer.decode(tokens, skip_special_tokens=True))
            for q, tokens in zip(questions(), answers, strict=True)
        ]
        return cls(
            prompts=prompts,
            greedy=greedy,
            greedy_logits=greedy_logits,
            windows=windows,
            window_logits=window_logits,
            questions=asked,
            answerable=answerable,
            end_ids=end_ids,
            tokenizer=tokenizer,
        )


def answer_is_correct(question: dict, answer: str) -> bool:
    return question["answer"].lower() in answer.lower()


def _torch_greedy(model, prompts: list[list[int]], n: int, end_ids: tuple[int, ...] = ()) -> list[list[int]]:
    """Plain argmax with the KV cache (generate() would apply generation_config and stop at ends), for
    all prompts in one batch: left-padded, masked, each row at its own positions. A decode step of
    this model is bound by reading its weights, so one batched step costs about what one sequence's
    does: the reference's greedy paths take 5 s instead of 20 (8 prompts), with the same tokens as
    one prompt at a time (tests/build_engines/onnx/test_reference.py). A row stops at an end id."""
    import torch

    width = max(len(ids) for ids in prompts)
    tokens = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for row, ids in enumerate(prompts):
        tokens[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(tokens, attention_mask=mask, position_ids=positions, use_cache=True)
    generated: list[list[int]] = [[] for _ in prompts]
    ended = [False] * len(prompts)
    for step in range(n):
        chosen = out.logits[:, -1].argmax(-1)
        for row, token in enumerate(chosen.tolist()):
            if not ended[row]:
                generated[row].append(token)
                ended[row] = token in end_ids
        if all(ended) or step == n - 1:
            break
        mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=torch.long)], dim=1)
        out = model(
            chosen[:, None],
            attention_mask=mask,
            position_ids=mask.sum(-1, keepdim=True) - 1,
            past_key_values=out.past_key_values,
            use_cache=True,
        )
    return generated
