"""python_backend/triton_io/preprocess.py: a batched request's rows read one by one and stacked
into TensorRT-LLM's engine inputs, ragged rows padded the way the engines read them back."""

import numpy as np
import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.word_lists import from_word_list
from python_backend.text.tokenizer import Preprocessor
from python_backend.triton_io.preprocess import CPU_ENGINE, EngineTraits, engine_inputs

# Also run under the NGC image's library versions (make test-image: transformers 4.57, xgrammar 0.1).
pytestmark = pytest.mark.image_libs


@pytest.fixture(scope="module")
def pre(checkpoint_dir):
    return Preprocessor(checkpoint_dir, max_seq_len=64, max_stop_words=3)


def getter(**inputs):
    return lambda name: inputs.get(name)


def column(*values, dtype=np.object_):
    return np.asarray([[v.encode() if isinstance(v, str) else v] for v in values], dtype=dtype)


# A TensorRT-LLM engine needs return_perf_metrics on every request; some gather no logits.
GPU_ENGINE = EngineTraits(needs_perf_metrics=True)
NOT_GENERATION = EngineTraits(needs_perf_metrics=True, generation_logits=False)
NEITHER = EngineTraits(needs_perf_metrics=True, generation_logits=False, context_logits=False)


def test_one_prompt_is_one_row(pre):
    out = engine_inputs(
        pre, getter(text_input=column("Hello there"), max_tokens=column(4, dtype=np.int32)), CPU_ENGINE
    )
    assert out["input_ids"].shape == (1, out["input_lengths"][0, 0]) and out[
        "request_output_len"
    ].tolist() == [[4]]
    assert out["embedding_bias"].shape == (1, 0)


def test_a_batch_is_stacked_and_ragged_rows_are_padded(pre):
    out = engine_inputs(
        pre,
        getter(
            text_input=column("Hi", "A much longer prompt than the first one"),
            max_tokens=column(3, 7, dtype=np.int32),
            stop_words=np.asarray([[b" cat", b" dog"], [b"", b""]], dtype=np.object_),
            pad_id=column(-1, 5, dtype=np.int32),
        ),
        CPU_ENGINE,
    )
    lengths = out["input_lengths"].reshape(-1).tolist()
    assert lengths[0] < lengths[1] and out["input_ids"].shape == (2, lengths[1])
    assert (out["input_ids"][0, lengths[0] :] == -1).all()  # padded with the row's pad id
    assert out["input_ids"][0, : lengths[0]].tolist() == pre.encode("Hi")
    assert out["request_output_len"].tolist() == [[3], [7]]
    end_id = pre.end_ids[0]
    # Row 1's shorter list is padded with offsets of -1, which end it where it ended.
    assert [from_word_list(w) for w in out["stop_words_list"]] == [
        pre.stop_sequences([" cat", " dog"], end_id),
        pre.stop_sequences([], end_id),
    ]
    assert out["stop_words_list"].shape[:2] == (2, 2)


def test_bias_rows_without_words_are_zero(pre):
    out = engine_inputs(
        pre,
        getter(
            text_input=column("Hi", "Yo"),
            max_tokens=column(3, 3, dtype=np.int32),
            embedding_bias_words=np.asarray([[b"cat"], [b"dog"]], dtype=np.object_),
            embedding_bias_weights=np.asarray([[2.0], [0.0]], dtype=np.float32),
        ),
        CPU_ENGINE,
    )
    bias = out["embedding_bias"]
    assert bias.shape == (2, len(pre.tokenizer)) and bias[0].max() == 2.0 and not bias[1].any()


def test_an_error_in_a_batch_names_its_item(pre):
    with pytest.raises(InputError, match=r"^batch item 1: max_tokens"):
        engine_inputs(
            pre, getter(text_input=column("Hi", "Yo"), max_tokens=column(3, 0, dtype=np.int32)), CPU_ENGINE
        )
    with pytest.raises(InputError, match=r"^max_tokens"):  # a single prompt's error reads as before
        engine_inputs(pre, getter(text_input=column("Hi"), max_tokens=column(0, dtype=np.int32)), CPU_ENGINE)


def test_return_perf_metrics_is_passed_on_or_forced(pre):
    base = {"text_input": column("Hi", "Yo"), "max_tokens": column(3, 3, dtype=np.int32)}
    asked = column(True, False, dtype=np.bool_)
    assert engine_inputs(pre, getter(**base, return_perf_metrics=asked), CPU_ENGINE)[
        "out_return_perf_metrics"
    ].tolist() == [[True], [False]]
    assert engine_inputs(pre, getter(**base), GPU_ENGINE)["out_return_perf_metrics"].tolist() == [
        [True],
        [True],
    ]
    # Forced by the repository: an explicit false would be ignored, so it is refused by name.
    with pytest.raises(InputError, match=r"^batch item 1: return_perf_metrics: false is not served"):
        engine_inputs(pre, getter(**base, return_perf_metrics=asked), GPU_ENGINE)


# -- logits the engine cannot return (preprocessing parameters gather_*_logits, set by gpu-repo) --------


def test_logits_are_served_by_default_as_on_the_cpu_engine(pre):
    base = {"text_input": column("Hi"), "max_tokens": column(3, dtype=np.int32)}
    asked = {
        "return_generation_logits": column(True, dtype=np.bool_),
        "return_context_logits": column(True, dtype=np.bool_),
    }
    out = engine_inputs(pre, getter(**base, **asked), CPU_ENGINE)
    assert out["input_ids"].tolist() == [pre.encode("Hi")]  # the flags reach the engine through the ensemble


def test_generation_logits_refused_when_the_engine_does_not_gather_them(pre):
    base = {"text_input": column("Hi"), "max_tokens": column(3, dtype=np.int32)}
    with pytest.raises(InputError) as err:
        engine_inputs(
            pre, getter(**base, return_generation_logits=column(True, dtype=np.bool_)), NOT_GENERATION
        )
    assert str(err.value) == (
        "return_generation_logits: this repository's engine was built without --gather_generation_logits, "
        "so it cannot return generation_logits; rebuild it with `make engines GATHER_LOGITS=generation` (or "
        "GATHER_LOGITS=all) and reassemble with `make gpu-repo`"
    )
    # context logits are still served by that engine, and false or absent asks for nothing
    engine_inputs(pre, getter(**base, return_context_logits=column(True, dtype=np.bool_)), NOT_GENERATION)
    engine_inputs(pre, getter(**base, return_generation_logits=column(False, dtype=np.bool_)), NEITHER)
    engine_inputs(pre, getter(**base), NEITHER)


def test_context_logits_refused_naming_the_field_and_the_rebuild(pre):
    base = {"text_input": column("Hi"), "max_tokens": column(3, dtype=np.int32)}
    with pytest.raises(
        InputError,
        match=r"^return_context_logits: this repository's engine was built without "
        r"--gather_context_logits, so it cannot return context_logits; rebuild it "
        r"with `make engines GATHER_LOGITS=context`",
    ):
        engine_inputs(pre, getter(**base, return_context_logits=column(True, dtype=np.bool_)), NEITHER)


def test_a_batch_row_asking_for_unserved_logits_is_named(pre):
    rows = {
        "text_input": column("Hi", "Yo"),
        "max_tokens": column(3, 3, dtype=np.int32),
        "return_generation_logits": column(False, True, dtype=np.bool_),
    }
    with pytest.raises(
        InputError, match=r"^batch item 1: return_generation_logits: this repository's engine"
    ):
        engine_inputs(pre, getter(**rows), NEITHER)


def test_engine_traits_come_from_the_parameters_and_refuse_anything_but_true_or_false():
    assert EngineTraits.from_parameters({}) == EngineTraits(
        needs_perf_metrics=True
    )  # config.pbtxt's defaults
    assert EngineTraits.from_parameters({"always_return_perf_metrics": "false"}) == CPU_ENGINE
    assert EngineTraits.from_parameters({"gather_context_logits": "false"}).context_logits is False
    with pytest.raises(ValueError, match=r'gather_generation_logits must be "true" or "false", got \'yes\''):
        EngineTraits.from_parameters({"gather_generation_logits": "yes"})
