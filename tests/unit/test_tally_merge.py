"""``Tally.merged_into`` builds each action's sum in one step, equal to the reference.

The reference is what it did before: an ``ActionCounts`` of the changes, added to
the current counts with ``ActionCounts.plus``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs
from hypothesis import given
from hypothesis import strategies as st

from campaignkit.delivery.tally import Tally
from campaignkit.domain.delivery import ActionCounts, ExclusionReason, FeedbackEvent

FIELDS = ("targeted", "sent", "failed", "retries", "pending", "late", "timezone_fallbacks")
ACTIONS = ("act_1", "act_2", "act_3")


def _reference(tally: Tally, current: Mapping[str, ActionCounts]) -> dict[str, ActionCounts]:
    merged = dict(current)
    numbers_of, excluded_of = tally._numbers, tally._excluded
    for action_id in numbers_of.keys() | excluded_of.keys():
        numbers = numbers_of.get(action_id, {})
        delta = ActionCounts(
            targeted=numbers.get("targeted", 0),
            sent=numbers.get("sent", 0),
            failed=numbers.get("failed", 0),
            excluded=excluded_of.get(action_id, {}),
            retries=numbers.get("retries", 0),
            pending=numbers.get("pending", 0),
            late=numbers.get("late", 0),
            timezone_fallbacks=numbers.get("timezone_fallbacks", 0),
        )
        merged[action_id] = merged.get(action_id, ActionCounts()).plus(delta)
    return merged


_COUNTS = st.builds(
    ActionCounts,
    **{name: st.integers(0, 5) for name in FIELDS},
    excluded=st.dictionaries(st.sampled_from(list(ExclusionReason)), st.integers(0, 3)),
    feedback=st.dictionaries(st.sampled_from(list(FeedbackEvent)), st.integers(0, 3)),
)
_CHANGES = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from(FIELDS), st.integers(-3, 3)),
        st.tuples(
            st.sampled_from(ACTIONS), st.sampled_from(list(ExclusionReason)), st.integers(0, 1)
        ),
    ),
    max_size=12,
)


@given(st.dictionaries(st.sampled_from(ACTIONS), _COUNTS), _CHANGES)
def test_merged_counts_equal_the_reference(
    current: dict[str, ActionCounts], changes: list[tuple[str, object, int]]
) -> None:
    tally = Tally()
    for action_id, what, amount in changes:
        if isinstance(what, ExclusionReason):
            tally.exclude(action_id, what, targeted=amount)
        else:
            tally.add(action_id, str(what), amount)
    merged = tally.merged_into(MappingProxyType(current))
    expected = _reference(tally, current)
    assert merged == expected
    for action_id, counts in merged.items():
        assert type(counts) is ActionCounts
        for field in attrs.fields(ActionCounts):  # converted as __init__ converts
            value = getattr(counts, field.name)
            assert type(value) is type(getattr(expected[action_id], field.name))
        assert 0 not in counts.excluded.values()
        assert set(vars(counts)) == {field.name for field in attrs.fields(ActionCounts)}
    assert merged.keys() == current.keys() | tally._numbers.keys() | tally._excluded.keys()
