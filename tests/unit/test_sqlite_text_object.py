"""The keyed statements' JSON (``ledger_codec.text_object``) is exactly what ``json`` writes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignkit.adapters.sqlite.ledger_codec import text_object


def _json(pairs: dict[str, str]) -> str:
    return json.dumps(pairs, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=8))
def test_any_text_gives_what_json_writes(pairs: dict[str, str]) -> None:
    assert text_object(pairs) == _json(pairs)


@pytest.mark.parametrize(
    "pairs",
    [
        {},
        {"run:a:p1": "p1", "run:a:p2": "p2"},
        {'say "hi"': "p1"},
        {"k": 'a"b'},
        {"back\\slash": "p"},
        {"k": "line\nbreak"},
        {"nul\x00": "p"},
        {"k": "tab\t"},
        {"José": "Zürich", "日本": "\u2028"},
        {"lone \ud800": "p"},
        {"k": "\udfff"},
    ],
)
def test_each_kind_of_text_gives_what_json_writes(pairs: dict[str, str]) -> None:
    """Plain ids are joined; quotes, escapes, control characters and surrogates go to json."""
    assert text_object(pairs) == _json(pairs)
