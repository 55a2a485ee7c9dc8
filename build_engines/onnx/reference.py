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
        greedy = []
        greedy_logits = []
        with torch.no_grad():
            for ids in prompts:
                tokens = _torch_greedy(model, ids, GREEDY_TOKENS)
                greedy.append(tokens)
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
            answerable = [
                answer_is_correct(
                    q,
                    tokenizer.decode(
                        _torch_greedy(model, ids, ANSWER_TOKENS, end_ids), skip_special_tokens=True
                    ),
                )
                for q, ids in zip(questions(), asked, strict=True)
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


def _torch_greedy(model, ids: list[int], n: int, end_ids: tuple[int, ...] = ()) -> list[int]:
    """Plain argmax with the KV cache (generate() would apply generation_config and stop at ends)."""
    import torch

    out = model(torch.tensor([ids]), use_cache=True)
    past = out.past_key_values
    generated = []
    for _ in range(n):
        generated.append(int(out.logits[0, -1].argmax()))
        if generated[-1] in end_ids:
            break
        out = model(torch.tensor([[generated[-1]]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
    return generated
