"""The tokenizer class the assembly records (text/tokenizer_classes.py RESOLVED_FILE): a model load
takes that class directly, without AutoTokenizer's config lookup, and gets the tokenizer AutoTokenizer
gives."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import transformers

from build_engines.shared_models import assemble_shared_models
from python_backend.text import tokenizer_classes
from python_backend.text.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parents[3]
MESSAGES = [{"role": "user", "content": "Name a fruit. Café, 東京 🎉"}]


@pytest.fixture(scope="module")
def assembled_tokenizer(checkpoint_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("shared")
    assemble_shared_models(out, checkpoint_dir, max_batch_size=8, engine_max_seq_len=512)
    return out / "preprocessing" / "1" / "tokenizer"


def _same(a, b):
    assert type(a) is type(b)
    assert a.apply_chat_template(
        MESSAGES, tokenize=False, add_generation_prompt=True
    ) == b.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    text = MESSAGES[0]["content"]
    assert a.encode(text) == b.encode(text) and a.all_special_ids == b.all_special_ids
    assert a.decode(a.encode(text)) == b.decode(b.encode(text))


def test_the_record_names_autotokenizers_class_and_loads_the_same_tokenizer(
    assembled_tokenizer, checkpoint_dir
):
    record = json.loads((assembled_tokenizer / tokenizer_classes.RESOLVED_FILE).read_text())
    auto = transformers.AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
    assert record == {"class": type(auto).__name__, "transformers": transformers.__version__}
    _same(load_tokenizer(assembled_tokenizer), auto)


def test_a_load_through_the_record_does_not_import_torch(assembled_tokenizer):
    # AutoTokenizer reads the model's config, whose module imports torch: ~5 s of CPU per stub.
    code = (
        "import sys; from python_backend.text.tokenizer import load_tokenizer; "
        f"load_tokenizer({str(assembled_tokenizer)!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "record",
    [
        {"class": "NoSuchTokenizer", "transformers": transformers.__version__},
        {"class": "PreTrainedTokenizerFast", "transformers": "0.0.1"},  # another version: asked again
    ],
)
def test_a_record_that_does_not_apply_is_not_used(assembled_tokenizer, tmp_path, checkpoint_dir, record):
    copy = tmp_path / "tokenizer"
    copy.mkdir()
    for file in assembled_tokenizer.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    (copy / tokenizer_classes.RESOLVED_FILE).write_text(json.dumps(record))
    _same(
        load_tokenizer(copy),
        transformers.AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True),
    )
