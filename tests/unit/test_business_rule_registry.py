"""``kit.rules``: the kit-wide business rules, through a real kit on both stores.

Quiet hours and frequency caps are kept per channel in the store: adding is
idempotent, removing an absent rule is ``NotFound``, a bad channel or a value
of the wrong type is a ``ValidationError`` that changes nothing, and a SQLite
kit finds its rules again after a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.factories import T0

E = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS
PUSH = ck.ChannelType.PUSH

NIGHT = ck.QuietHours(start="21:00", end="08:00")
LUNCH = ck.QuietHours(start="12:00", end="14:00", timezone="Europe/Paris", mode="discard")
FULL = ck.QuietHours(
    start="22:00",
    end="07:00",
    timezone="Asia/Tokyo",
    mode="discard",
    days=(ck.Weekday.FR, ck.Weekday.SA),
    dates=(dt.date(2026, 12, 25), dt.date(2027, 1, 1)),
)
WEEKLY = ck.FrequencyCap(max=1, per=pendulum.duration(days=7))
DAILY = ck.FrequencyCap(max=3, per=pendulum.duration(hours=24))

Opener = Callable[[], ck.CampaignKit]


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a kit on the store under test (each SQLite opening is closed afterwards)."""
    clock = ManualClock(T0)
    opened: list[ck.CampaignKit] = []
    if request.param == "memory":

        def open_kit() -> ck.CampaignKit:
            if not opened:
                kit = ck.CampaignKit.in_memory(clock=clock)
            else:  # another kit over the same in-memory store
                kit = ck.CampaignKit(store=opened[0].store, clock=clock)
            opened.append(kit)
            return kit

    else:

        def open_kit() -> ck.CampaignKit:
            kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=clock)
            opened.append(kit)
            return kit

    yield open_kit
    for kit in opened:
        kit.close()


@pytest.fixture
def rules(opener: Opener) -> ck.BusinessRuleRegistry:
    return opener().rules


# ---------------------------------------------------------------- reading


def test_a_new_kit_has_no_rules(rules: ck.BusinessRuleRegistry) -> None:
    book = rules.book()
    assert book.channels == {}
    assert book.revision == 0
    for channel in ck.ChannelType:
        assert rules.for_channel(channel) == ck.BusinessRules()


def test_kit_rules_is_a_business_rule_registry(opener: Opener) -> None:
    kit = opener()
    assert isinstance(kit.rules, ck.BusinessRuleRegistry)


def test_in_memory_kit_has_rules_too() -> None:
    with ck.CampaignKit.in_memory(clock=ManualClock(T0)) as kit:
        kit.rules.add_quiet_hours(E, NIGHT)
        assert kit.rules.for_channel(E).quiet_hours == (NIGHT,)


# ---------------------------------------------------------------- adding


def test_add_quiet_hours_returns_and_keeps_the_channels_rules(
    rules: ck.BusinessRuleRegistry,
) -> None:
    after = rules.add_quiet_hours(E, NIGHT)
    assert after == ck.BusinessRules(quiet_hours=(NIGHT,))
    assert rules.for_channel(E) == after
    assert rules.for_channel(SMS) == ck.BusinessRules()
    assert rules.book().channels == {E: after}


def test_rules_are_kept_in_the_order_they_were_added(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(E, LUNCH)
    rules.add_quiet_hours(E, NIGHT)
    rules.add_frequency_cap(E, WEEKLY)
    assert rules.add_frequency_cap(E, DAILY) == ck.BusinessRules(
        quiet_hours=(LUNCH, NIGHT), caps=(WEEKLY, DAILY)
    )


def test_add_frequency_cap_returns_and_keeps_the_channels_rules(
    rules: ck.BusinessRuleRegistry,
) -> None:
    after = rules.add_frequency_cap(SMS, WEEKLY)
    assert after == ck.BusinessRules(caps=(WEEKLY,))
    assert rules.for_channel(SMS) == after
    assert rules.for_channel(E) == ck.BusinessRules()


def test_adding_the_same_quiet_hours_twice_keeps_one(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(E, NIGHT)
    revision = rules.book().revision
    twin = ck.QuietHours(start="21:00", end="08:00")  # equal, not the same object
    assert rules.add_quiet_hours(E, twin) == ck.BusinessRules(quiet_hours=(NIGHT,))
    assert rules.for_channel(E).quiet_hours == (NIGHT,)
    assert rules.book().revision == revision  # nothing was written


def test_adding_the_same_cap_twice_keeps_one(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_frequency_cap(E, WEEKLY)
    revision = rules.book().revision
    same = ck.FrequencyCap(max=1, per=pendulum.duration(weeks=1))
    assert rules.add_frequency_cap(E, same) == ck.BusinessRules(caps=(WEEKLY,))
    assert rules.book().revision == revision


def test_the_same_rule_may_apply_to_several_channels(rules: ck.BusinessRuleRegistry) -> None:
    for channel in ck.ChannelType:
        rules.add_quiet_hours(channel, NIGHT)
        rules.add_frequency_cap(channel, WEEKLY)
    expected = ck.BusinessRules(quiet_hours=(NIGHT,), caps=(WEEKLY,))
    assert rules.book().channels == dict.fromkeys(ck.ChannelType, expected)


def test_rules_differing_in_one_field_are_different_rules(
    rules: ck.BusinessRuleRegistry,
) -> None:
    rules.add_quiet_hours(E, NIGHT)
    discard = ck.QuietHours(start="21:00", end="08:00", mode="discard")
    assert rules.add_quiet_hours(E, discard).quiet_hours == (NIGHT, discard)
    rules.add_frequency_cap(E, WEEKLY)
    two = ck.FrequencyCap(max=2, per=pendulum.duration(days=7))
    assert rules.add_frequency_cap(E, two).caps == (WEEKLY, two)


def test_a_channel_may_be_named_by_its_string(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours("email", NIGHT)
    rules.add_frequency_cap("sms", WEEKLY)
    assert rules.for_channel(E).quiet_hours == (NIGHT,)
    assert rules.for_channel("email") == rules.for_channel(E)
    assert rules.for_channel("sms").caps == (WEEKLY,)
    assert set(rules.book().channels) == {E, SMS}
    assert all(type(channel) is ck.ChannelType for channel in rules.book().channels)
    rules.remove_quiet_hours("email", NIGHT)
    assert rules.for_channel(E) == ck.BusinessRules()


# ---------------------------------------------------------------- removing


def test_remove_quiet_hours_leaves_the_others(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(E, NIGHT)
    rules.add_quiet_hours(E, LUNCH)
    rules.add_frequency_cap(E, WEEKLY)
    after = rules.remove_quiet_hours(E, NIGHT)
    assert after == ck.BusinessRules(quiet_hours=(LUNCH,), caps=(WEEKLY,))
    assert rules.for_channel(E) == after


def test_remove_frequency_cap_leaves_the_others(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_frequency_cap(SMS, WEEKLY)
    rules.add_frequency_cap(SMS, DAILY)
    rules.add_quiet_hours(SMS, NIGHT)
    after = rules.remove_frequency_cap(SMS, WEEKLY)
    assert after == ck.BusinessRules(quiet_hours=(NIGHT,), caps=(DAILY,))


def test_removing_by_an_equal_value_works(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(E, NIGHT)
    rules.add_frequency_cap(E, WEEKLY)
    rules.remove_quiet_hours(E, ck.QuietHours(start="21:00", end="08:00"))
    rules.remove_frequency_cap(E, ck.FrequencyCap(max=1, per=pendulum.duration(hours=168)))
    assert rules.for_channel(E) == ck.BusinessRules()


def test_removing_the_last_rule_drops_the_channel(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(E, NIGHT)
    rules.add_frequency_cap(PUSH, WEEKLY)
    assert rules.remove_quiet_hours(E, NIGHT) == ck.BusinessRules()
    assert rules.book().channels == {PUSH: ck.BusinessRules(caps=(WEEKLY,))}
    rules.remove_frequency_cap(PUSH, WEEKLY)
    assert rules.book().channels == {}


def test_removing_absent_quiet_hours_is_not_found_and_changes_nothing(
    rules: ck.BusinessRuleRegistry,
) -> None:
    rules.add_quiet_hours(E, NIGHT)
    before = rules.book()
    with pytest.raises(ck.NotFound) as error:
        rules.remove_quiet_hours(E, LUNCH)
    assert (error.value.kind, error.value.key) == ("email quiet hours", "12:00-14:00")
    with pytest.raises(ck.NotFound, match="sms quiet hours"):
        rules.remove_quiet_hours(SMS, NIGHT)  # present on another channel only
    assert rules.book() == before


def test_removing_an_absent_cap_is_not_found_and_changes_nothing(
    rules: ck.BusinessRuleRegistry,
) -> None:
    rules.add_frequency_cap(E, WEEKLY)
    before = rules.book()
    with pytest.raises(ck.NotFound) as error:
        rules.remove_frequency_cap(E, DAILY)
    assert (error.value.kind, error.value.key) == ("email frequency cap", "3 per 1 day")
    assert isinstance(error.value, LookupError)
    assert rules.book() == before


def test_removing_twice_is_not_found_the_second_time(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(PUSH, NIGHT)
    rules.remove_quiet_hours(PUSH, NIGHT)
    with pytest.raises(ck.NotFound):
        rules.remove_quiet_hours(PUSH, NIGHT)


# ---------------------------------------------------------------- clearing


def fill(rules: ck.BusinessRuleRegistry) -> None:
    rules.add_quiet_hours(E, NIGHT)
    rules.add_frequency_cap(E, WEEKLY)
    rules.add_quiet_hours(SMS, LUNCH)
    rules.add_frequency_cap(PUSH, DAILY)


@pytest.mark.parametrize("channel", [SMS, "sms"])
def test_clear_a_channel_leaves_the_others(
    rules: ck.BusinessRuleRegistry, channel: ck.ChannelType | str
) -> None:
    fill(rules)
    rules.clear(channel)
    assert rules.for_channel(SMS) == ck.BusinessRules()
    assert set(rules.book().channels) == {E, PUSH}
    assert rules.for_channel(E) == ck.BusinessRules(quiet_hours=(NIGHT,), caps=(WEEKLY,))


def test_clear_without_a_channel_removes_every_rule(rules: ck.BusinessRuleRegistry) -> None:
    fill(rules)
    rules.clear()
    assert rules.book().channels == {}
    for channel in ck.ChannelType:
        assert rules.for_channel(channel) == ck.BusinessRules()


def test_clearing_nothing_writes_nothing(rules: ck.BusinessRuleRegistry) -> None:
    rules.clear()
    assert rules.book().revision == 0
    rules.add_quiet_hours(E, NIGHT)
    revision = rules.book().revision
    rules.clear(SMS)  # SMS has no rules
    rules.clear(PUSH)
    assert rules.book().revision == revision
    assert rules.for_channel(E).quiet_hours == (NIGHT,)


def test_rules_can_be_added_again_after_clearing(rules: ck.BusinessRuleRegistry) -> None:
    fill(rules)
    rules.clear()
    assert rules.add_quiet_hours(E, NIGHT) == ck.BusinessRules(quiet_hours=(NIGHT,))


def test_every_change_moves_the_revision_on(rules: ck.BusinessRuleRegistry) -> None:
    revisions = [rules.book().revision]
    changes: list[Callable[[], object]] = [
        lambda: rules.add_quiet_hours(E, NIGHT),
        lambda: rules.add_frequency_cap(E, WEEKLY),
        lambda: rules.remove_quiet_hours(E, NIGHT),
        lambda: rules.remove_frequency_cap(E, WEEKLY),
        lambda: rules.add_frequency_cap(SMS, WEEKLY),
    ]
    for change in changes:
        change()
        revisions.append(rules.book().revision)
    rules.clear()
    revisions.append(rules.book().revision)
    assert revisions == sorted(set(revisions))  # strictly increasing


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("channel", ["fax", "EMAIL", "", "e-mail"])
def test_an_unknown_channel_is_a_validation_error_that_changes_nothing(
    rules: ck.BusinessRuleRegistry, channel: str
) -> None:
    fill(rules)
    before = rules.book()
    calls: list[Callable[[], object]] = [
        lambda: rules.for_channel(channel),
        lambda: rules.add_quiet_hours(channel, NIGHT),
        lambda: rules.add_frequency_cap(channel, WEEKLY),
        lambda: rules.remove_quiet_hours(channel, NIGHT),
        lambda: rules.remove_frequency_cap(channel, WEEKLY),
        lambda: rules.clear(channel),
    ]
    for call in calls:
        with pytest.raises(ck.ValidationError) as error:
            call()
        assert error.value.problems == [f"unknown channel {channel!r}; use one of email, sms, push"]
    assert rules.book() == before


def test_clearing_an_unknown_channel_of_an_empty_book_is_a_validation_error(
    rules: ck.BusinessRuleRegistry,
) -> None:
    with pytest.raises(ck.ValidationError, match="unknown channel 'fax'"):
        rules.clear("fax")


def test_a_channel_of_the_wrong_type_is_a_validation_error(
    rules: ck.BusinessRuleRegistry,
) -> None:
    with pytest.raises(ck.ValidationError, match="unknown channel 3"):
        rules.add_quiet_hours(3, NIGHT)  # type: ignore[arg-type]
    with pytest.raises(ck.ValidationError, match="unknown channel None"):
        rules.for_channel(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", [("21:00", "08:00"), {"start": "21:00", "end": "08:00"}, WEEKLY, None, "21:00"]
)
def test_add_quiet_hours_takes_only_quiet_hours(
    rules: ck.BusinessRuleRegistry, value: object
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        rules.add_quiet_hours(E, value)  # type: ignore[arg-type]
    assert error.value.problems == [f"add_quiet_hours takes a ck.QuietHours, not {value!r}"]
    assert rules.book().channels == {}


@pytest.mark.parametrize("value", [(1, 7), 3, NIGHT, None])
def test_add_frequency_cap_takes_only_frequency_caps(
    rules: ck.BusinessRuleRegistry, value: object
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        rules.add_frequency_cap(E, value)  # type: ignore[arg-type]
    assert error.value.problems == [f"add_frequency_cap takes a ck.FrequencyCap, not {value!r}"]
    assert rules.book().channels == {}


@pytest.mark.parametrize("remove", ["quiet_hours", "frequency_cap"])
def test_remove_takes_only_rules_of_the_right_type(
    rules: ck.BusinessRuleRegistry, remove: str
) -> None:
    with pytest.raises(ck.ValidationError, match=r"takes a ck\."):
        if remove == "quiet_hours":
            rules.remove_quiet_hours(E, "21:00")  # type: ignore[arg-type]
        else:
            rules.remove_frequency_cap(E, 3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- persistence


def test_rules_survive_closing_and_reopening_a_sqlite_kit(tmp_path: Path) -> None:
    path = tmp_path / "rules.db"
    clock = ManualClock(T0)
    kit = ck.CampaignKit.sqlite(path, clock=clock)
    kit.rules.add_quiet_hours(E, FULL)
    kit.rules.add_quiet_hours(E, NIGHT)
    kit.rules.add_frequency_cap(E, WEEKLY)
    kit.rules.add_frequency_cap(PUSH, ck.FrequencyCap(max=2, per=pendulum.duration(hours=36)))
    kit.rules.add_quiet_hours(SMS, LUNCH)
    before = kit.rules.book()
    kit.close()

    with ck.CampaignKit.sqlite(path, clock=clock) as reopened:
        after = reopened.rules.book()
        assert after == before
        restored = after.for_channel(E).quiet_hours[0]
        assert restored.days == (ck.Weekday.FR, ck.Weekday.SA)
        assert restored.dates == (dt.date(2026, 12, 25), dt.date(2027, 1, 1))
        assert all(type(day) is ck.Weekday for day in restored.days)
        assert all(type(date) is dt.date for date in restored.dates)
        cap = after.for_channel(PUSH).caps[0]
        assert cap.per.total_seconds() == 36 * 3600
        # what was read back behaves as the original
        at = pendulum.datetime(2026, 12, 25, 12, tz="Asia/Tokyo")
        assert restored.quiet_until(at, restored.timezone) == FULL.quiet_until(at, FULL.timezone)
        # and removes by value: equality survives the round trip
        reopened.rules.remove_quiet_hours(E, FULL)
        reopened.rules.remove_frequency_cap(E, WEEKLY)
        reopened.rules.add_frequency_cap(
            PUSH, ck.FrequencyCap(max=2, per=pendulum.duration(hours=36))
        )
        assert reopened.rules.for_channel(PUSH).caps == (cap,)
        assert reopened.rules.for_channel(E) == ck.BusinessRules(quiet_hours=(NIGHT,))

    with ck.CampaignKit.sqlite(path, clock=clock) as third:
        assert third.rules.for_channel(E) == ck.BusinessRules(quiet_hours=(NIGHT,))
        third.rules.clear()

    with ck.CampaignKit.sqlite(path, clock=clock) as fourth:
        assert fourth.rules.book().channels == {}


def test_kits_sharing_a_store_see_each_others_rules(opener: Opener) -> None:
    first, second = opener(), opener()
    first.rules.add_quiet_hours(E, NIGHT)
    assert second.rules.for_channel(E).quiet_hours == (NIGHT,)
    second.rules.remove_quiet_hours(E, NIGHT)
    second.rules.add_frequency_cap(SMS, WEEKLY)
    assert first.rules.book() == second.rules.book()
    assert first.rules.for_channel(E) == ck.BusinessRules()


# ---------------------------------------------------------------- repr


def test_repr_names_the_store(tmp_path: Path) -> None:
    memory = ck.CampaignKit.in_memory(clock=ManualClock(T0))
    assert repr(memory.rules) == f"BusinessRuleRegistry({memory.store!r})"
    assert repr(memory.rules).startswith("BusinessRuleRegistry(InMemoryStore(")
    path = tmp_path / "repr.db"
    with ck.CampaignKit.sqlite(path, clock=ManualClock(T0)) as kit:
        assert repr(kit.rules) == f"BusinessRuleRegistry({kit.store!r})"
        assert str(path) in repr(kit.rules)
