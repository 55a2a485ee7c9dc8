"""Tokenizer / detokenizer on the real SmolLM2 tokenizer."""

import numpy as np
import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.word_lists import from_word_list, to_word_list
from python_backend.text.detokenizer import DetokenizerStore, IncrementalDetokenizer, decode_all
from python_backend.text.tokenizer import Preprocessor

# Also run under the NGC image's library versions (make test-image: transformers 4.57, xgrammar 0.1).
pytestmark = pytest.mark.image_libs

TEXTS = [
    "Hello world, this is a test.",
    " leading space and  double  spaces",
    "日本語のテキスト、東京タワー",
    "emoji 🎉🚀👩‍👩‍👧 done",
    "café naïve résumé — “quotes”",
    "混合 mixed 🇫🇷 text\n\nwith newlines\tand tabs",
]


@pytest.mark.parametrize("text", TEXTS)
def test_streamed_chunks_equal_the_whole_text(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    detok = IncrementalDetokenizer(tokenizer)
    chunks = [detok.step([i]) for i in ids]
    assert "".join(chunks) == decode_all(tokenizer, ids) == text
    assert not any("\ufffd" in c for c in chunks)


def test_a_cut_inside_a_character_ends_at_the_last_complete_one(tokenizer):
    ids = tokenizer.encode("ok 🎉", add_special_tokens=False)
    for cut in range(1, len(ids)):
        detok = IncrementalDetokenizer(tokenizer)
        streamed = "".join(detok.step([i]) for i in ids[:cut])
        assert streamed == decode_all(tokenizer, ids[:cut])
        assert "\ufffd" not in streamed


def test_work_per_token_stays_bounded(tokenizer):
    ids = tokenizer.encode("word " * 400, add_special_tokens=False)
    detok = IncrementalDetokenizer(tokenizer)
    for i in ids:
        detok.step([i])
        assert len(detok.tokens) <= 8  # a window, not the text so far


def test_store_is_bounded():
    store = DetokenizerStore(tokenizer=None, capacity=2)
    for key in range(5):
        store.get(key)
    assert len(store) == 2


def test_a_cancelled_stream_is_forgotten_and_reported_once():
    store = DetokenizerStore(tokenizer=None, capacity=2)
    store.get(7)
    assert store.cancel(7) is True and len(store) == 0
    assert store.cancel(7) is False  # later responses of the same stream: the engine was told already
    for key in range(10, 13):
        store.cancel(key)
    assert store.cancel(7) is True  # the memory of cancelled keys is bounded too


def test_word_list_round_trip():
    words = to_word_list([[5, 6], [7]])
    assert words.tolist() == [[5, 6, 7], [2, 3, -1]]
    assert from_word_list(words) == [[5, 6], [7]]
    assert to_word_list([]).tolist() == [[0], [-1]] and from_word_list(to_word_list([])) == []


@pytest.fixture(scope="module")
def pre(checkpoint_dir):
    return Preprocessor(checkpoint_dir, max_seq_len=64, max_stop_words=3)


def test_chat_template_and_end_ids(pre):
    ids = pre.encode("What is the capital of France?", apply_chat_template=True)
    text = pre.tokenizer.decode(ids)
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert pre.end_ids == [2]  # <|im_end|> from generation_config.json


def test_stop_words_cover_the_in_context_form(pre):
    sequences = pre.stop_sequences(["Paris"], end_id=2)
    encode = lambda s: pre.tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    assert encode("Paris") in sequences and encode(" Paris") in sequences


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.encode("   "), "text_input: must not be empty"),
        (lambda p: p.encode("word " * 100), "text_input: prompt is"),
        (lambda p: p.check_max_tokens(0, 5), "max_tokens: must be >= 1"),
        (lambda p: p.check_max_tokens(60, 5), "at most 59 fit"),
        (
            lambda p: p.word_sequences(["a", "b", "c", "d"], "stop_words"),
            "stop_words: 4 entries; the limit is 3",
        ),
        (lambda p: p.encode("[{]", apply_chat_template=True), "does not parse"),
        (lambda p: p.encode("x" * 70000), "text_input: 70000 bytes; the limit is 65536"),
        (
            lambda p: p.embedding_bias(["a", "b"], [1.0]),
            "embedding_bias_weights: 1 values for 2 embedding_bias_words",
        ),
        (lambda p: p.embedding_bias(["a"], [float("nan")]), "embedding_bias_weights: values must be finite"),
        (lambda p: p.embedding_bias([""], [1.0]), "embedding_bias_words: entries must not be empty"),
    ],
)
def test_bad_input_names_the_field(pre, call, message):
    with pytest.raises(InputError, match=message):
        call(pre)


def test_numpy_word_lists_are_int32():
    assert to_word_list([[1]]).dtype == np.int32


def test_embedding_bias_weights_every_token_of_each_word_in_context(pre):
    bias = pre.embedding_bias(["Paris", "Rome"], [-5.0, 2.0])
    encode = lambda s: pre.tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    assert bias.shape == (len(pre.tokenizer),) and bias.dtype == np.float32
    assert all(bias[t] == -5.0 for t in encode("Paris") + encode(" Paris"))
    assert all(bias[t] == 2.0 for t in encode(" Rome"))
    assert pre.embedding_bias([], []).shape == (0,)  # none: an empty tensor, as upstream sends it
