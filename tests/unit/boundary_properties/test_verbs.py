"""Property: a verb raises only campaignkit errors, a refused call changes nothing, and both
kits give the same outcome and hold the same data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.boundary_properties.support import EXAMPLES, Side, Verb, _arguments, _check
from tests.unit.boundary_properties.verbs import KIT_VERBS, SESSION_VERBS


@pytest.mark.parametrize("verb", SESSION_VERBS + KIT_VERBS, ids=lambda v: v.name)
@EXAMPLES
@given(data=st.data())
def test_a_verb_raises_only_campaignkit_errors_and_refusals_change_nothing(
    sides: tuple[Side, Side], verb: Verb, data: st.DataObject
) -> None:
    args = _arguments(verb, sides[0].ids, data)
    _check(sides, verb.name, verb.call, args)
