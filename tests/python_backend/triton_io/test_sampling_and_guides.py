"""The ensemble's one sampling meaning (contract/sampling.py), how TensorRT-LLM's executor reads what
it is sent (contract/trtllm_backend/executor.py, as the emulator applies it), preprocessing's guide
compile check and compact JSON grammar (triton_io/guide_check.py), and embedding_bias sized by the
model's vocab_size."""

import json
import shutil

import numpy as np
import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.guides import Guide
from python_backend.contract.sampling import engine_sampling
from python_backend.contract.trtllm_backend.executor import EMBEDDING_BIAS_SHAPE, executor_sampling
from python_backend.text.tokenizer import Preprocessor
from python_backend.triton_io.guide_check import GuideCheck
from python_backend.triton_io.preprocess import EngineTraits, engine_inputs
from python_backend.trtllm_emulator import executor_checks
from python_backend.trtllm_emulator.executor_requests import parse

# Also run under the NGC image's library versions (make test-image: transformers 4.57, xgrammar 0.1).
pytestmark = pytest.mark.image_libs
GPU_ENGINE = EngineTraits(needs_perf_metrics=True, prompt_lookup=False)


@pytest.fixture(scope="module")
def pre(checkpoint_dir):
    return Preprocessor(checkpoint_dir, max_seq_len=256)


@pytest.fixture(scope="module")
def guides(pre):
    return GuideCheck(pre.tokenizer, pre.end_ids, pre.vocab_size, json_whitespace="compact")


def request(**inputs):
    """A one-row ensemble request: strings as BYTES, ints as INT32, floats as FP32, seed UINT64."""

    def tensor(name, value):
        if isinstance(value, str):
            return np.asarray([[value.encode()]], dtype=np.object_)
        dtype = np.uint64 if name == "seed" else np.float32 if isinstance(value, float) else np.int32
        return np.asarray([[value]], dtype=dtype)

    tensors = {name: tensor(name, value) for name, value in {"max_tokens": 4, **inputs}.items()}
    tensors.setdefault("text_input", tensor("text_input", "Hello"))
    return lambda name: tensors.get(name)


def emulated_params(pre, guides, **inputs):
    """What the emulated TensorRT-LLM executor samples with after preprocessing's outputs reach it
    through the ensemble's wiring (out_<name> → the engine's <name>)."""
    out = engine_inputs(pre, request(**inputs), GPU_ENGINE, guides)
    engine = {name.removeprefix("out_"): value for name, value in out.items()}
    engine["request_output_len"] = out["request_output_len"]
    (item,) = parse(lambda name: engine.get(name), exclude_input_default=True).items
    return item.params


# -- the contract's explicit values ------------------------------------------------------------------------
def test_no_temperature_is_greedy_as_top_k_1_on_both_engines():
    sent = engine_sampling(None, None, None, 7)
    # top_k 1 is argmax in TensorRT-LLM's sampling layers and SamplingParams.greedy; temperature 1.0
    # leaves the logits as they are.
    assert (sent.temperature, sent.top_k, sent.top_p, sent.seed) == (1.0, 1, 1.0, 7)
    assert engine_sampling(0.0, 50, 0.5, None).top_k == 1  # temperature 0: top_k / top_p change nothing


def test_a_temperature_samples_the_whole_distribution_unless_narrowed():
    assert engine_sampling(0.8, None, None, 1).inputs() == {
        "temperature": 0.8,
        "runtime_top_k": 0,
        "runtime_top_p": 1.0,  # explicit: TensorRT-LLM's absent top_p (0) with top_k 0 is greedy
        "seed": 1,
    }
    assert engine_sampling(0.8, 0, 0.0, 1).top_p == 1.0  # top_p 0 means none, as absent
    assert (engine_sampling(0.8, 40, 0.9, 1).top_k, engine_sampling(0.8, 40, 0.9, 1).top_p) == (40, 0.9)


def test_no_seed_draws_a_fresh_one_per_request_and_a_seed_is_kept():
    drawn = {engine_sampling(1.0, None, None, None).seed for _ in range(8)}
    assert len(drawn) == 8 and all(0 <= s < 2**63 for s in drawn)
    assert engine_sampling(1.0, None, None, 2**64 - 1).seed == 2**64 - 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ((-0.5, None, None, None), "temperature"),
        ((1.0, None, -0.1, None), "top_p"),
        ((1.0, -1, None, 1), "top_k"),
    ],
)
def test_out_of_range_values_are_refused_by_name(values, field):
    # TensorRT-LLM would read a top_p <= 0 as absent, i.e. greedy: refused here instead.
    with pytest.raises(InputError, match=f"^{field}: "):
        engine_sampling(*values)


# -- TensorRT-LLM's reading of what it is sent (the emulator) ------------------------------------------------
def test_the_executor_is_greedy_with_temperature_alone_and_seeds_0():
    # DefaultDecodingParams: top_k 0, top_p 0 → k = 1 whatever the temperature; seed 0.
    assert executor_sampling(0.8, None, None, None) == {
        "temperature": 0.8,
        "top_k": 1,
        "top_p": 1.0,
        "seed": 0,
    }
    assert executor_sampling(None, None, -1.0, None)["top_k"] == 1  # top_p <= 0 is dropped: absent
    assert executor_sampling(None, None, 0.9, None) == {
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 0.9,
        "seed": 0,
    }
    assert executor_sampling(None, 5, None, 3) == {"temperature": 1.0, "top_k": 5, "top_p": 1.0, "seed": 3}


def test_preprocessing_makes_the_emulated_executor_sample_as_the_contract_says(pre, guides):
    # The old ensemble passed the client's tensors through: temperature alone was greedy there.
    sampled = emulated_params(pre, guides, temperature=0.8)
    assert (sampled.temperature, sampled.top_k, sampled.top_p) == (pytest.approx(0.8), 0, 1.0)
    assert not sampled.greedy and sampled.seed != 0
    assert emulated_params(pre, guides, temperature=0.8).seed != sampled.seed  # a fresh seed each time
    assert emulated_params(pre, guides, top_p=0.5).greedy  # no temperature: greedy, whatever top_p says
    assert emulated_params(pre, guides, temperature=1.0, seed=42).seed == 42


# -- guides --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "text", "what"),
    [
        ("regex", "[a-", "regex"),
        ("ebnf_grammar", 'root ::= ("a"', "EBNF grammar"),
        # Valid against JSON Schema's meta-schema, but its $ref points nowhere: only a compiler finds it.
        ("json_schema", json.dumps({"$ref": "#/$defs/missing"}), "JSON schema"),
    ],
)
def test_every_guide_type_is_compiled_and_a_bad_one_refused_naming_the_field(pre, guides, kind, text, what):
    with pytest.raises(InputError, match=f"^guided_decoding_guide: this {what} does not compile"):
        engine_inputs(
            pre, request(guided_decoding_guide_type=kind, guided_decoding_guide=text), GPU_ENGINE, guides
        )


def test_json_guides_reach_the_engine_as_a_grammar_without_runs_of_whitespace(pre, guides):
    import xgrammar as xgr

    schema = json.dumps({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
    out = engine_inputs(
        pre,
        request(guided_decoding_guide_type="json_schema", guided_decoding_guide=schema),
        GPU_ENGINE,
        guides,
    )
    assert out["out_guided_decoding_guide_type"][0, 0] == b"ebnf_grammar"
    compiled = guides.compiler().compile(
        Guide("ebnf_grammar", out["out_guided_decoding_guide"][0, 0].decode())
    )

    def accepts(text):
        return xgr.GrammarMatcher(compiled).accept_string(text)

    assert accepts('{"a": 1}') and not accepts('{\n  "a": 1}') and not accepts('{"a":   1}')
    any_json = engine_inputs(pre, request(guided_decoding_guide_type="json"), GPU_ENGINE, guides)
    assert any_json["out_guided_decoding_guide_type"][0, 0] == b"ebnf_grammar"


def test_json_whitespace_any_sends_the_guide_as_given_and_no_guide_is_empty(pre):
    loose = GuideCheck(pre.tokenizer, pre.end_ids, pre.vocab_size, json_whitespace="any")
    schema = json.dumps({"type": "object"})
    out = engine_inputs(
        pre,
        request(guided_decoding_guide_type="json_schema", guided_decoding_guide=schema),
        GPU_ENGINE,
        loose,
    )
    assert (out["out_guided_decoding_guide_type"][0, 0], out["out_guided_decoding_guide"][0, 0]) == (
        b"json_schema",
        schema.encode(),
    )
    none = engine_inputs(pre, request(), GPU_ENGINE, loose)
    assert (none["out_guided_decoding_guide_type"][0, 0], none["out_guided_decoding_guide"][0, 0]) == (
        b"",
        b"",
    )
    with pytest.raises(ValueError, match="json_whitespace: 'tabs'"):
        GuideCheck(pre.tokenizer, pre.end_ids, pre.vocab_size, json_whitespace="tabs")


def test_a_guide_is_refused_by_name_on_a_lookahead_engine(pre, guides):
    lookahead = EngineTraits(needs_perf_metrics=True, prompt_lookup=False, lookahead=True)
    with pytest.raises(InputError, match="^guided_decoding_guide_type: .*lookahead"):
        engine_inputs(
            pre,
            request(guided_decoding_guide_type="regex", guided_decoding_guide="(yes|no)"),
            lookahead,
            guides,
        )
    assert engine_inputs(pre, request(), lookahead, guides)["input_ids"].size  # unguided requests run


# -- embedding_bias ---------------------------------------------------------------------------------------
def test_embedding_bias_has_the_models_vocab_size_not_the_tokenizers_length(checkpoint_dir, tmp_path):
    # A checkpoint whose logits are padded past its tokenizer (as Qwen2.5's: 151936 for 151665).
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "generation_config.json",
    ):
        if (checkpoint_dir / name).is_file():
            shutil.copy(checkpoint_dir / name, tmp_path / name)
    config = json.loads((checkpoint_dir / "config.json").read_text())
    padded = config["vocab_size"] + 128
    (tmp_path / "config.json").write_text(json.dumps({**config, "vocab_size": padded}))
    pre = Preprocessor(tmp_path, max_seq_len=64)
    assert len(pre.tokenizer) != padded
    bias = pre.embedding_bias(["Paris"], [2.0])
    assert bias.shape == (padded,) and bias.max() == 2.0


def test_the_emulated_executor_fails_the_step_on_a_wrong_sized_bias_or_a_guide_that_does_not_compile(
    pre, guides
):
    # What backend.py answers by ending every active request (forwardAsync's catch).
    vocab = pre.vocab_size
    engine = {
        "input_ids": np.asarray([[1, 2]], dtype=np.int32),
        "request_output_len": np.asarray([[2]], dtype=np.int32),
        "embedding_bias": np.zeros((1, vocab - 1), dtype=np.float32),
    }
    (item,) = parse(lambda n: engine.get(n), exclude_input_default=True).items
    with pytest.raises(executor_checks.StepFailure, match=EMBEDDING_BIAS_SHAPE.format(vocab=vocab)):
        executor_checks.in_step(item, vocab_size=vocab, grammars=guides.compiler())
    engine["embedding_bias"] = np.zeros((1, vocab), dtype=np.float32)
    engine["guided_decoding_guide_type"] = np.asarray([[b"regex"]], dtype=np.object_)
    engine["guided_decoding_guide"] = np.asarray([[b"(a|"]], dtype=np.object_)
    (item,) = parse(lambda n: engine.get(n), exclude_input_default=True).items
    with pytest.raises(
        executor_checks.StepFailure, match="guided_decoding_guide: this regex does not compile"
    ):
        executor_checks.in_step(item, vocab_size=vocab, grammars=guides.compiler())
