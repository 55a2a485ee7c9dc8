"""The PyTorch reference's greedy paths (build_engines/onnx/reference.py) are computed for all prompts
in one left-padded batch: each row must be what that prompt alone gives, end ids included."""

import json

import pytest

from build_engines.onnx import reference


@pytest.fixture(scope="module")
def model_and_prompts(checkpoint_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        checkpoint_dir, dtype=torch.float32, local_files_only=True
    ).eval()
    shipped = json.loads((reference.DATA / "prompts.json").read_text())["prompts"]
    question = reference.questions()[0]["question"]
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
    )
    # A short prompt and a long chat, so one row is padded and the other is not.
    shortest = min((tokenizer.encode(p) for p in shipped), key=len)
    prompts = [shortest, tokenizer.encode(chat, add_special_tokens=False)]
    return model, prompts, tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_each_batched_row_is_its_prompt_alone_and_stops_at_its_own_end(model_and_prompts):
    import torch

    model, prompts, im_end = model_and_prompts
    with torch.no_grad():
        batched = reference._torch_greedy(model, prompts, 12, (im_end,))
        alone = [reference._torch_greedy(model, [ids], 12, (im_end,))[0] for ids in prompts]
    assert len(prompts[0]) < len(prompts[1])
    assert batched == alone
    # The chat's answer ends at its end id (the last token kept), while the other row goes on.
    assert batched[1][-1] == im_end and len(batched[1]) < 12
    assert len(batched[0]) == 12
