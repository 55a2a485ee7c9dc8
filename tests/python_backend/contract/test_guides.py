"""The guided-decoding checks every edge shares (python_backend/contract/guides.py)."""

import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.guides import Guide, parse_guide


def test_no_guide_is_none_and_each_type_parses():
    assert parse_guide(None, None) is None and parse_guide("", "") is None
    assert parse_guide("json", "") == Guide("json")
    assert parse_guide("json_schema", '{"type": "object"}') == Guide("json_schema", '{"type": "object"}')
    assert parse_guide("regex", "[0-9]+") == Guide("regex", "[0-9]+")


@pytest.mark.parametrize(
    "kind,guide,message",
    [
        (
            "yaml",
            "",
            "guided_decoding_guide_type: must be one of json, json_schema, regex, ebnf_grammar, got 'yaml'",
        ),
        (None, "[0-9]+", "guided_decoding_guide_type: required when guided_decoding_guide is set"),
        ("json", "{}", "guided_decoding_guide: must be empty for guided_decoding_guide_type json"),
        ("regex", " ", "guided_decoding_guide: required for guided_decoding_guide_type regex"),
        ("json_schema", "[1]", "guided_decoding_guide: a JSON schema must be a JSON object, got list"),
        ("json_schema", '{"type": "objec"}', "guided_decoding_guide: not a valid JSON schema at type:"),
        (
            "json_schema",
            '{"properties": {"a": {"minimum": "1"}}}',
            "guided_decoding_guide: not a valid JSON schema at properties/a/minimum:",
        ),
    ],
)
def test_a_bad_guide_names_its_field(kind, guide, message):
    with pytest.raises(InputError) as caught:
        parse_guide(kind, guide)
    assert str(caught.value).startswith(message), str(caught.value)
