"""The engine's grammar compiler and matcher (python_backend/engine/grammar.py) on each environment's
xgrammar: 0.2.8 in .venv, 0.1.32 in .venv-image (the NGC 26.04 TensorRT-LLM image's, make test-image).
The same calls, the same refusals, word for word, and the same tokens allowed step by step.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.guides import Guide
from python_backend.engine.grammar import GrammarCompiler
from python_backend.text.tokenizer import load_tokenizer

# Also run under the NGC image's library versions (make test-image: transformers 4.57, xgrammar 0.1).
pytestmark = pytest.mark.image_libs


@pytest.fixture(scope="module")
def compiler(checkpoint_dir, tmp_path_factory) -> GrammarCompiler:
    from build_engines.shared_models import write_tokenizer_info

    info = write_tokenizer_info(checkpoint_dir, tmp_path_factory.mktemp("tokenizer_info"))
    vocab_size = json.loads((Path(checkpoint_dir) / "config.json").read_text())["vocab_size"]
    return GrammarCompiler(info, vocab_size)


@pytest.fixture(scope="module")
def encode(checkpoint_dir):
    tokenizer = load_tokenizer(checkpoint_dir)
    return lambda text: tokenizer.encode(text, add_special_tokens=False)


@pytest.mark.parametrize(
    "guide,message",
    [
        (Guide("regex", "(yes|no"), "this regex does not compile: The parenthesis is not closed."),
        (Guide("ebnf_grammar", "root ::= ("), "this EBNF grammar does not compile: Expect element, but got"),
        (
            Guide("json_schema", '{"type": "object", "properties": {"a": {"type": "strng"}}}'),
            'this JSON schema does not compile: Unsupported type "strng"',
        ),
    ],
)
def test_a_guide_that_does_not_compile_is_refused_naming_the_field(compiler, guide, message):
    # Both versions raise RuntimeError with "[time] file:line: message"; grammar.py keeps the message.
    with pytest.raises(InputError) as err:
        compiler.compile(guide)
    assert str(err.value) == f"guided_decoding_guide: {message}"


def test_a_regex_allows_exactly_its_words_then_the_end(compiler, encode):
    end_id = 2  # <|im_end|>, generation_config.json's eos_token_id
    (yes,) = encode("yes")
    (no,) = encode("no")
    (maybe,) = encode("maybe")
    state = compiler.matcher(Guide("regex", "(yes|no)"), (end_id,))
    allowed = state.allowed()
    assert allowed.shape == (compiler.vocab_size,)
    # "yes" and "no" start the answer; "maybe" does not, and ending before an answer is not allowed.
    assert (allowed[yes], allowed[no], allowed[maybe], allowed[end_id]) == (True, True, False, False)
    assert not state.completed
    state.accept(yes)
    # After "yes" the regex is complete (before its end id is accepted, and after): the end id is the
    # only token left.
    assert state.allowed().nonzero()[0].tolist() == [end_id]
    assert state.completed
    state.accept(end_id)
    assert state.completed


def test_every_guide_type_compiles(compiler):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    for guide in (
        Guide("json"),
        Guide("json_schema", json.dumps(schema)),
        Guide("regex", "[0-9]{3}"),
        Guide("ebnf_grammar", 'root ::= "a" | "b"'),
    ):
        assert compiler.matcher(guide, (2,)).completed is False


def test_xgrammar_is_imported_at_the_first_guide_not_when_the_engine_loads(checkpoint_dir, tmp_path):
    # Its import (torch, transformers, tvm_ffi) cost every engine model's load about 3 s of CPU.
    from build_engines.shared_models import write_tokenizer_info

    info = write_tokenizer_info(checkpoint_dir, tmp_path)
    code = (
        "import sys; from python_backend.contract.guides import Guide; "
        "from python_backend.engine.grammar import GrammarCompiler; "
        f"c = GrammarCompiler({str(info)!r}, 49152); before = 'xgrammar' in sys.modules; "
        "c.compile(Guide('regex', '(yes|no)')); print(before, 'xgrammar' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_missing_tokenizer_info_file_still_fails_at_load(tmp_path):
    with pytest.raises(FileNotFoundError):
        GrammarCompiler(tmp_path / "absent.json", 49152)
