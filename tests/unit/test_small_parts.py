"""Small parts: clocks, ids, error classes, profiles, in-memory audiences, session guards."""

from __future__ import annotations

import datetime as dt

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.recipients import unknown_profile
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0, World

# ---------------------------------------------------------------- ManualClock


def test_manual_clock_starts_at_a_fixed_default_or_the_given_instant() -> None:
    assert ManualClock().now() == pendulum.datetime(2026, 1, 1, tz="UTC")
    assert ManualClock(T0).now() == T0


def test_manual_clock_normalizes_its_start_to_utc() -> None:
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 10, tz="Europe/Paris"))
    assert clock.now() == T0
    assert clock.now().timezone_name == "UTC"


def test_manual_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ck.ValidationError, match="ManualClock start must be timezone-aware"):
        ManualClock(pendulum.naive(2026, 1, 1))


def test_manual_clock_never_moves_on_its_own() -> None:
    clock = ManualClock(T0)
    assert clock.now() == clock.now() == T0


def test_manual_clock_set_moves_forward_or_stays() -> None:
    clock = ManualClock(T0)
    clock.set(T0.add(days=2))
    assert clock.now() == T0.add(days=2)
    clock.set(T0.add(days=2))  # the same instant is fine
    assert clock.now() == T0.add(days=2)
    clock.set(pendulum.datetime(2026, 12, 3, 21, tz="Asia/Tokyo"))  # 12:00 UTC, later
    assert clock.now() == pendulum.datetime(2026, 12, 3, 12, tz="UTC")
    assert clock.now().timezone_name == "UTC"


def test_manual_clock_refuses_to_go_backwards() -> None:
    clock = ManualClock(T0)
    with pytest.raises(ck.ClockError, match="cannot go backwards") as caught:
        clock.set(T0.subtract(seconds=1))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ck.CampaignKitError)
    with pytest.raises(ck.ClockError):  # a later wall time, but an earlier instant
        clock.set(pendulum.datetime(2026, 12, 1, 12, tz="Asia/Tokyo"))
    assert clock.now() == T0


def test_manual_clock_set_refuses_a_naive_instant() -> None:
    clock = ManualClock(T0)
    with pytest.raises(ck.ValidationError, match=r"ManualClock.set\(when\) must be timezone-aware"):
        clock.set(pendulum.naive(2027, 1, 1))
    assert clock.now() == T0


def test_manual_clock_advance_by_duration_or_units() -> None:
    clock = ManualClock(T0)
    clock.advance(pendulum.duration(hours=1))
    assert clock.now() == T0.add(hours=1)
    clock.advance(days=1, minutes=30)
    assert clock.now() == T0.add(days=1, hours=1, minutes=30)
    clock.advance(seconds=0.5)
    assert clock.now() == T0.add(days=1, hours=1, minutes=30, microseconds=500_000)
    clock.advance()  # a zero step
    assert clock.now() == T0.add(days=1, hours=1, minutes=30, microseconds=500_000)


@pytest.mark.parametrize(
    "step",
    [pendulum.duration(seconds=-1), pendulum.duration(days=1, hours=-25)],
)
def test_manual_clock_refuses_a_negative_duration(step: pendulum.Duration) -> None:
    clock = ManualClock(T0)
    with pytest.raises(ck.ClockError, match="negative step"):
        clock.advance(step)
    assert clock.now() == T0


def test_manual_clock_refuses_negative_units() -> None:
    clock = ManualClock(T0)
    with pytest.raises(ck.ClockError, match="negative step"):
        clock.advance(days=-1)
    with pytest.raises(ck.ClockError, match="negative step"):
        clock.advance(hours=1, minutes=-61)
    assert clock.now() == T0


def test_manual_clock_refuses_a_duration_and_units_together() -> None:
    clock = ManualClock(T0)
    with pytest.raises(ck.ValidationError, match="either a duration or keyword units, not both"):
        clock.advance(pendulum.duration(hours=1), minutes=5)
    assert clock.now() == T0


def test_manual_clock_is_a_settable_clock_with_a_readable_repr() -> None:
    clock = ManualClock(T0)
    assert isinstance(clock, ck.SettableClock)
    assert isinstance(clock, ck.Clock)
    assert repr(clock) == "ManualClock(2026-12-01T09:00:00+00:00)"


# ---------------------------------------------------------------- SystemClock and ids


def test_system_clock_returns_an_aware_utc_now() -> None:
    clock = ck.SystemClock()
    before = dt.datetime.now(dt.timezone.utc)
    now = clock.now()
    after = dt.datetime.now(dt.timezone.utc)
    assert isinstance(now, pendulum.DateTime)
    assert now.utcoffset() == dt.timedelta(0)
    assert now.timezone_name == "UTC"
    assert before <= now <= after
    assert isinstance(clock, ck.Clock)
    assert not isinstance(clock, ck.SettableClock)
    assert repr(clock) == "SystemClock()"


def test_sequential_ids_count_per_prefix() -> None:
    ids = SequentialIds()
    assert [ids("cmp"), ids("cmp"), ids("srf"), ids("cmp")] == [
        "cmp_0001",
        "cmp_0002",
        "srf_0001",
        "cmp_0003",
    ]
    assert SequentialIds()("cmp") == "cmp_0001"  # every factory starts afresh


def test_sequential_ids_sort_in_creation_order() -> None:
    ids = SequentialIds()
    made = [ids("cmp") for _ in range(1200)]
    assert made == sorted(made)
    assert made[-1] == "cmp_1200"


# ---------------------------------------------------------------- errors


def test_validation_error_singular() -> None:
    error = ck.ValidationError(["name is empty"])
    assert error.problems == ["name is empty"]
    assert error.subject == "input"
    assert str(error) == "input has 1 problem:\n  - name is empty"
    assert isinstance(error, ValueError)
    assert isinstance(error, ck.CampaignKitError)


def test_validation_error_plural_with_subject() -> None:
    error = ck.ValidationError((p for p in ["a", "b", "c"]), subject="campaign 'cmp_1'")
    assert error.problems == ["a", "b", "c"]
    assert error.subject == "campaign 'cmp_1'"
    assert str(error) == "campaign 'cmp_1' has 3 problems:\n  - a\n  - b\n  - c"


def test_validation_error_with_no_problems_reads_as_plural() -> None:
    assert str(ck.ValidationError([])) == "input has 0 problems:\n"


def test_transition_not_allowed_with_and_without_hint() -> None:
    plain = ck.TransitionNotAllowed("cmp_1", "LIVE", "delete")
    assert (plain.campaign_id, plain.status, plain.action, plain.hint) == (
        "cmp_1",
        "LIVE",
        "delete",
        "",
    )
    assert str(plain) == "cannot delete campaign 'cmp_1': it is LIVE"
    hinted = ck.TransitionNotAllowed("cmp_1", "LIVE", "delete", "stop it first")
    assert hinted.hint == "stop it first"
    assert str(hinted) == "cannot delete campaign 'cmp_1': it is LIVE; stop it first"
    assert isinstance(hinted, ck.CampaignKitError)


def test_permission_denied_with_and_without_campaign() -> None:
    bare = ck.PermissionDenied("bob", "surface.manage")
    assert (bare.user, bare.permission, bare.campaign_id, bare.reason) == (
        "bob",
        "surface.manage",
        None,
        "",
    )
    assert str(bare) == "user 'bob' lacks permission 'surface.manage'"
    full = ck.PermissionDenied("bob", "campaign.publish", "cmp_1", "viewers cannot publish")
    assert full.campaign_id == "cmp_1"
    assert full.reason == "viewers cannot publish"
    assert str(full) == (
        "user 'bob' lacks permission 'campaign.publish' on campaign 'cmp_1': viewers cannot publish"
    )
    assert str(ck.PermissionDenied("bob", "campaign.read", "cmp_2")) == (
        "user 'bob' lacks permission 'campaign.read' on campaign 'cmp_2'"
    )


def test_not_found() -> None:
    error = ck.NotFound("surface", "srf_9")
    assert (error.kind, error.key) == ("surface", "srf_9")
    assert str(error) == "no surface with id 'srf_9'"
    assert isinstance(error, LookupError)
    assert isinstance(error, ck.CampaignKitError)


def test_approval_required() -> None:
    error = ck.ApprovalRequired("cmp_1", "big sends")
    assert (error.campaign_id, error.policy) == ("cmp_1", "big sends")
    assert "campaign 'cmp_1' needs approval under policy 'big sends'" in str(error)
    assert "request_approval()" in str(error)


def test_surface_in_use() -> None:
    error = ck.SurfaceInUse("srf_1", ("cmp_1", "cmp_2"))
    assert error.surface_id == "srf_1"
    assert error.campaign_ids == ["cmp_1", "cmp_2"]
    assert str(error) == (
        "surface 'srf_1' is used by running campaign(s) cmp_1, cmp_2; stop them first"
    )


@pytest.mark.parametrize(
    "error_class",
    [ck.ConflictError, ck.DeliveryError, ck.StorageError, ck.ClockError],
)
def test_plain_errors_belong_to_the_hierarchy(error_class: type[ck.CampaignKitError]) -> None:
    error = error_class("what happened")
    assert str(error) == "what happened"
    assert isinstance(error, ck.CampaignKitError)


# ---------------------------------------------------------------- profiles


def test_profile_mappings_are_read_only_copies() -> None:
    identities = {"email": "ann@example.com"}
    attributes: dict[str, object] = {"firstName": "Ann", "address": {"city": "Lyon"}}
    consents = {ck.ChannelType.EMAIL: True}
    profile = ck.Profile(
        "p1",
        identities=identities,
        attributes=attributes,
        consents=consents,
        channel_data={ck.ChannelType.SMS: "+15550100"},
        timezone="Europe/Paris",
        language="fr",
    )
    identities["phone"] = "+15550199"  # the caller's dicts are copied
    consents[ck.ChannelType.SMS] = True
    assert dict(profile.identities) == {"email": "ann@example.com"}
    assert dict(profile.consents) == {ck.ChannelType.EMAIL: True}
    with pytest.raises(TypeError):
        profile.identities["email"] = "eve@example.com"  # type: ignore[index]
    with pytest.raises(TypeError):
        profile.attributes["firstName"] = "Eve"  # type: ignore[index]
    with pytest.raises(TypeError):
        profile.consents[ck.ChannelType.SMS] = True  # type: ignore[index]
    with pytest.raises(TypeError):
        del profile.channel_data[ck.ChannelType.SMS]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        profile.language = "en"  # type: ignore[misc]
    assert profile.attributes["firstName"] == "Ann"


def test_profiles_default_to_empty_mappings_and_compare_by_value() -> None:
    profile = ck.Profile("p1")
    assert dict(profile.identities) == {}
    assert dict(profile.attributes) == {}
    assert (profile.timezone, profile.language) == (None, None)
    assert ck.Profile("p1", identities={"email": "a@example.com"}) == ck.Profile(
        "p1", identities={"email": "a@example.com"}
    )


def test_in_memory_profile_store() -> None:
    store = ck.InMemoryProfileStore()
    assert len(store) == 0
    assert store.get("p1") is None
    ann = ck.Profile("p1", attributes={"firstName": "Ann"})
    store.upsert(ann)
    assert store.get("p1") == ann
    assert len(store) == 1
    replaced = ck.Profile("p1", attributes={"firstName": "Annie"})
    store.upsert(replaced)
    assert store.get("p1") == replaced
    store.upsert(ck.Profile("p2"))
    assert len(store) == 2


def test_in_memory_profile_store_refuses_an_empty_id() -> None:
    store = ck.InMemoryProfileStore()
    with pytest.raises(ck.ValidationError, match="id must not be empty"):
        store.upsert(ck.Profile(""))
    assert len(store) == 0


# ---------------------------------------------------------------- audiences


def member_ids(source: ck.InMemoryAudienceSource, name: str, batch_size: int = 2) -> list[str]:
    return [p.id for batch in source.members(name, batch_size=batch_size) for p in batch]


def test_in_memory_audience_source() -> None:
    source = ck.InMemoryAudienceSource()
    source.profiles.upsert(ck.Profile(id="p1", attributes={"vip": True}))
    source.profiles.upsert(ck.Profile(id="p2"))
    assert source.status("vip") is None
    assert member_ids(source, "vip") == []
    source.define("vip", (f"p{n}" for n in (1, 2, 3)))
    assert source.status("vip") is ck.AudienceStatus.READY
    assert source.count("vip") == 3
    assert member_ids(source, "vip") == ["p1", "p2", "p3"]
    batches = list(source.members("vip", batch_size=2))
    assert [len(b) for b in batches] == [2, 1]
    # an unknown id streams as an empty stand-in, which a run excludes as unknown_profile
    assert batches[1][0] == unknown_profile("p3")
    assert attrs.asdict(batches[1][0]) == attrs.asdict(ck.Profile(id="p3"))
    source.define("vip", ["p9"])  # define replaces
    assert member_ids(source, "vip") == ["p9"]
    source.define("nobody", [])
    assert source.status("nobody") is ck.AudienceStatus.READY
    assert member_ids(source, "nobody") == []
    source.define("flagged", where=lambda p: bool(p.attributes.get("vip")))
    assert source.count("flagged") is None
    assert member_ids(source, "flagged") == ["p1"]
    with pytest.raises(ck.ValidationError, match="not both"):
        source.define("both", ["p1"], where=lambda p: True)


def test_in_memory_audience_source_refuses_bad_definitions() -> None:
    source = ck.InMemoryAudienceSource()
    with pytest.raises(ck.ValidationError) as caught:
        source.define("  ", ["p1"])
    assert caught.value.problems == ["an audience needs a non-empty name"]
    with pytest.raises(ck.ValidationError) as caught:
        source.define("vip", "p1,p2")
    assert caught.value.problems == ["profile_ids must be a list of ids, not the string 'p1,p2'"]
    with pytest.raises(ck.ValidationError) as caught:
        source.define("", "p1")
    assert len(caught.value.problems) == 2
    assert source.status("vip") is None
    assert source.status("") is None


def test_kit_audiences_refuse_a_bare_string_too(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="not the string 'p1'"):
        world.kit.audiences.define("solo", "p1")
    assert world.kit.audiences.status("solo") is None


# ---------------------------------------------------------------- campaign and session guards


def test_campaign_html_escapes_names(world: World) -> None:
    world.kit.access.assign("<b>eve</b>", ck.ProductProfile.ADMINISTRATOR)
    eve = world.kit.as_user("<b>eve</b>")
    campaign = eve.create_campaign(name="<script>alert('x')</script> & co")
    rendered = campaign._repr_html_()
    assert "<script>" not in rendered
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in rendered
    assert "&lt;b&gt;eve&lt;/b&gt;" in rendered
    assert "<b>eve</b>" not in rendered
    assert campaign.id in rendered
    assert "DRAFT" in rendered


@pytest.mark.parametrize("user", ["", "   ", "\t\n"])
def test_a_session_needs_a_user_id(world: World, user: str) -> None:
    with pytest.raises(ck.ValidationError, match="must be a non-empty string"):
        world.kit.as_user(user)


def test_session_repr(world: World) -> None:
    assert repr(world.kit.as_user("ada")) == "UserSession(user='ada')"


def test_actions_must_be_a_list_not_a_single_action(world: World) -> None:
    action = world.email_action()
    with pytest.raises(ck.ValidationError, match="actions must be a list of Action"):
        world.admin.create_campaign(name="one", actions=action)  # type: ignore[arg-type]
    with pytest.raises(ck.ValidationError, match="actions must be a list of Action"):
        world.admin.create_campaign(name="number", actions=3)  # type: ignore[arg-type]
    draft = world.draft()
    with pytest.raises(ck.ValidationError, match="actions must be a list of Action"):
        world.admin.update_draft(draft.id, actions=action)  # type: ignore[arg-type]
    assert [c.id for c in world.admin.list_campaigns()] == [draft.id]


def test_actions_refuse_items_that_are_not_actions(world: World) -> None:
    items: list[object] = [world.email_action(), "sms please", {"surface_id": "x"}]
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.create_campaign(name="mixed", actions=items)  # type: ignore[arg-type]
    assert caught.value.problems == [
        "action 2 is a str, not an Action",
        "action 3 is a dict, not an Action",
    ]
    assert world.admin.list_campaigns().items == ()


def test_actions_get_ids_unless_they_have_one(world: World) -> None:
    named = ck.Action(world.sms.id, ck.SmsContent(text="hi"), "act_mine")
    campaign = world.admin.create_campaign(
        name="ids", actions=(a for a in [world.email_action(), named])
    )
    first, second = campaign.newest_version.actions
    assert first.id == "act_0001"
    assert second == named
