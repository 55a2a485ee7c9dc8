"""Preprocessing's two issue-30 inputs: a prompt sent as token ids (input_token_ids, instead of
text_input) and OpenAI's logit_bias by token id (logit_bias_token_ids / _values), which is added into
embedding_bias together with tensorrtllm_backend's bias words. Errors name the input."""

import numpy as np
import pytest

from python_backend.contract.errors import InputError
from python_backend.text.tokenizer import TOKEN_ID_PADDING, Preprocessor
from python_backend.triton_io.preprocess import CPU_ENGINE, engine_inputs

pytestmark = pytest.mark.image_libs  # preprocessing code: also under the NGC image's libraries


@pytest.fixture(scope="module")
def pre(checkpoint_dir):
    return Preprocessor(checkpoint_dir, max_seq_len=64)


def getter(**inputs):
    return lambda name: inputs.get(name)


def ints(*rows, dtype=np.int32):
    return np.asarray(rows, dtype=dtype)


def one(value, dtype):
    return np.asarray([[value.encode() if isinstance(value, str) else value]], dtype=dtype)


MAX_TOKENS = one(4, np.int32)


def test_token_ids_are_the_prompt_as_text_would_be(pre):
    ids = pre.encode("The capital of France is")
    by_text = engine_inputs(
        pre, getter(text_input=one("The capital of France is", object), max_tokens=MAX_TOKENS)
    )
    by_ids = engine_inputs(pre, getter(input_token_ids=ints(ids), max_tokens=MAX_TOKENS))
    assert by_ids["input_ids"].tolist() == by_text["input_ids"].tolist() == [ids]
    assert by_ids["input_lengths"].tolist() == [[len(ids)]]


def test_a_batch_of_token_prompts_drops_each_rows_padding(pre):
    short, long = [9707], [785, 6722, 315, 9625, 374]
    padded = short + [TOKEN_ID_PADDING] * (len(long) - len(short))
    out = engine_inputs(
        pre, getter(input_token_ids=ints(padded, long), max_tokens=ints([4], [4])), CPU_ENGINE
    )
    assert out["input_lengths"].reshape(-1).tolist() == [1, 5]
    assert out["input_ids"][0, :1].tolist() == short and out["input_ids"][1].tolist() == long


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"input_token_ids": ints([1, 10**9])},
            "input_token_ids: token id 1000000000 at position 1 is outside",
        ),
        ({"input_token_ids": ints([5, -7])}, "input_token_ids: token id -7 at position 1 is outside"),
        (
            {"input_token_ids": ints([TOKEN_ID_PADDING])},
            "input_token_ids: prompt must contain at least one token",
        ),
        (
            {"input_token_ids": ints(list(range(1, 65)))},
            "input_token_ids: prompt is 64 tokens; the limit is 63",
        ),
        ({"input_token_ids": ints([1]), "text_input": one("Hi", object)}, "not both"),
        ({"input_token_ids": ints([1]), "apply_chat_template": one(True, bool)}, "apply_chat_template:"),
        ({}, "text_input: required input is missing (or send the prompt's token ids as input_token_ids)"),
    ],
)
def test_bad_token_prompts_name_the_input(pre, inputs, message):
    with pytest.raises(InputError) as caught:
        engine_inputs(pre, getter(max_tokens=MAX_TOKENS, **inputs))
    assert message in str(caught.value)


def test_logit_bias_adds_each_value_to_its_token(pre):
    out = engine_inputs(
        pre,
        getter(
            text_input=one("Hi", object),
            max_tokens=MAX_TOKENS,
            logit_bias_token_ids=ints([11, 42, 11]),
            logit_bias_values=np.asarray([[2.5, -100.0, 1.0]], np.float32),
        ),
    )
    bias = out["embedding_bias"][0]
    assert bias.shape == (pre.vocab_size,)  # the model's vocab_size, as TensorRT-LLM requires
    assert bias[11] == 3.5 and bias[42] == -100.0  # a token listed twice gets both values
    assert np.count_nonzero(bias) == 2


def test_logit_bias_and_bias_words_are_merged(pre):
    word_ids = {t for seq in pre.word_sequences(["Paris"], "w") for t in seq}
    token = next(i for i in range(100, 200) if i not in word_ids)
    bias = pre.embedding_bias(["Paris"], [5.0], [token, min(word_ids)], [-3.0, 1.0])
    assert bias[token] == -3.0 and bias[min(word_ids)] == 6.0
    assert all(bias[i] >= 5.0 for i in word_ids)


@pytest.mark.parametrize(
    ("ids", "values", "message"),
    [
        ([1, 2], [1.0], "logit_bias_values: 1 values for 2 logit_bias_token_ids"),
        ([1], [float("inf")], "logit_bias_values: values must be finite numbers"),
        ([10**8], [1.0], "logit_bias_token_ids: token id 100000000 is outside the vocabulary"),
        ([-1], [1.0], "logit_bias_token_ids: token id -1 is outside the vocabulary"),
    ],
)
def test_bad_logit_bias_names_the_input(pre, ids, values, message):
    with pytest.raises(InputError) as caught:
        pre.embedding_bias([], [], ids, values)
    assert message in str(caught.value)
