"""Multi-channel runs: every profile and action gets exactly one outcome, checked against an
oracle of consent, addresses and conditions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from tests.unit.delivery.support import (
    C,
    F,
    L,
    R,
    Worlds,
    action_id,
    balanced,
    launch,
    ledger,
    only_run,
    recorded,
)

# ---------------------------------------------------------------- multi-channel


N_PROFILES = 1000
GHOSTS = ["ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5"]


def population(i: int) -> ck.Profile:
    """Profile i of the multi-channel test: a deterministic mix of every exclusion."""
    identities = {} if i % 10 == 0 else {"email": f"u{i}@example.com"}
    channel_data: dict[C, str] = {}
    if i % 4 != 1:
        channel_data[C.SMS] = f"+33600{i:05d}"
    if i % 3 != 2:
        channel_data[C.PUSH] = f"token-{i}"
    if i % 17 == 0:
        channel_data[C.EMAIL] = f"alt{i}@example.net"
    attributes: dict[str, object] = {}
    if i % 11 != 7:
        attributes["firstName"] = f"N{i}"
    if i % 13 == 9:
        attributes["address"] = {"zip": "75001"}
    elif i % 13 == 6:
        attributes["address"] = {}
    else:
        attributes["address"] = {"city": f"C{i}", "zip": "75001"}
    return ck.Profile(
        id=f"p{i:04d}",
        identities=identities,
        attributes=attributes,
        consents={C.EMAIL: i % 5 != 3, C.SMS: i % 6 != 4, C.PUSH: i % 7 != 5},
        channel_data=channel_data,
    )


def address_in(profile: ck.Profile, channel: C) -> str | None:
    """The oracle's address rule (namespace ``email``): channel data, else the email identity."""
    explicit = profile.channel_data.get(channel)
    if explicit:
        return explicit
    if channel is C.EMAIL:
        return profile.identities.get("email")
    return None


def has_city(attributes: Mapping[str, object]) -> bool:
    address = attributes.get("address")
    return isinstance(address, dict) and "city" in address


NEEDS: Mapping[C, Callable[[Mapping[str, object]], bool]] = {
    C.EMAIL: lambda a: "firstName" in a,  # the subject has no fallback
    C.SMS: lambda a: True,  # default("friend")
    C.PUSH: has_city,
}


def oracle(
    profile: ck.Profile | None, channel: C, suppressed: set[tuple[C, str]]
) -> ck.ExclusionReason | None:
    """SPEC precedence: unknown profile, identity, channel data, suppressed, consent, attribute."""
    if profile is None:
        return R.UNKNOWN_PROFILE
    if not profile.identities.get("email"):
        return R.MISSING_IDENTITY
    address = address_in(profile, channel)
    if address is None:
        return R.MISSING_CHANNEL_DATA
    if (channel, address) in suppressed:
        return R.SUPPRESSED
    if not profile.consents.get(channel, False):
        return R.NO_CONSENT
    if not NEEDS[channel](profile.attributes):
        return R.MISSING_ATTRIBUTE
    return None


def rendered(profile: ck.Profile, channel: C) -> dict[str, str]:
    attributes = profile.attributes
    address = attributes.get("address")
    city = address.get("city") if isinstance(address, dict) else None
    if channel is C.EMAIL:
        name = attributes["firstName"]
        return {
            "subject": f"Hi {name}",
            "html": f"<p>{name} in {city or 'your city'}</p>",
        }
    if channel is C.SMS:
        return {"text": f"Sale {attributes.get('firstName', 'friend')}!"}
    return {"title": "News", "body": f"Hello {city}"}


def test_multi_channel_run_gives_every_profile_and_action_exactly_one_outcome(
    worlds: Worlds,
) -> None:
    world = worlds.world(delivery=ck.DeliverySettings(batch_size=128))
    kit, admin = world.kit, world.admin
    profiles = {f"p{i:04d}": population(i) for i in range(N_PROFILES)}
    for profile in profiles.values():
        kit.profiles.upsert(profile)

    # an earlier campaign whose hard bounces suppress addresses (soft bounces do not)
    bounced = [pid for i, pid in enumerate(profiles) if i % 19 == 0]
    kit.audiences.define("bounce", bounced)
    earlier = launch(
        world,
        [
            ck.Action(world.email.id, ck.EmailContent(subject="Earlier", html="x")),
            ck.Action(world.sms.id, ck.SmsContent(text="Earlier")),
        ],
        audience="bounce",
        name="Earlier",
    )
    earlier_run = only_run(kit, earlier.id)
    suppressed: set[tuple[C, str]] = set()
    for entry in ledger(kit, earlier_run.id):
        if entry.state is not L.SENT:
            continue
        assert entry.provider_message_id is not None
        assert entry.address is not None
        hard = entry.channel is C.EMAIL or int(entry.profile_id[1:]) % 38 == 0
        kit.record_feedback(entry.provider_message_id, F.HARD_BOUNCE if hard else F.SOFT_BOUNCE)
        if hard:
            suppressed.add((entry.channel, entry.address))
    assert {c for c, _ in suppressed} == {C.EMAIL, C.SMS}
    sent_before = {c: len(recorded(kit, c).sent) for c in C}

    # the audience: every profile, adjacent and far duplicates, and unknown ids
    audience: list[str] = []
    for i, pid in enumerate(profiles):
        audience.append(pid)
        if i % 50 == 25:
            audience.append(pid)
    audience.extend(pid for i, pid in enumerate(profiles) if i % 100 == 3)
    audience[500:500] = GHOSTS
    kit.audiences.define("everyone", audience)

    campaign = launch(
        world,
        [
            ck.Action(
                world.email.id,
                ck.EmailContent(
                    subject="Hi {{ profile.firstName }}",
                    html="<p>{{ profile.firstName }} in "
                    "{{ profile.address.city | default('your city') }}</p>",
                ),
            ),
            ck.Action(
                world.sms.id,
                ck.SmsContent(text="Sale {{ profile.firstName | default('friend') }}!"),
            ),
            ck.Action(
                world.push.id, ck.PushContent(title="News", body="Hello {{ profile.address.city }}")
            ),
        ],
        audience="everyone",
    )
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.streamed
    assert run.position == len(audience)
    actions = {c: action_id(campaign, c) for c in (C.EMAIL, C.SMS, C.PUSH)}
    surfaces = {C.EMAIL: world.email, C.SMS: world.sms, C.PUSH: world.push}

    # the oracle, from the audience as streamed
    expected_sent: dict[C, set[str]] = {c: set() for c in actions}
    expected_excluded: dict[C, Counter[ck.ExclusionReason]] = {c: Counter() for c in actions}
    expected_reason: dict[tuple[C, str], ck.ExclusionReason] = {}
    seen: set[str] = set()
    for pid in audience:
        for channel in actions:
            if pid in seen:
                expected_excluded[channel][R.DUPLICATE] += 1
                continue
            reason = oracle(profiles.get(pid), channel, suppressed)
            if reason is None:
                expected_sent[channel].add(pid)
            else:
                expected_excluded[channel][reason] += 1
                expected_reason[channel, pid] = reason
        seen.add(pid)
    # the mix really covers every reason, on every channel
    for channel, excluded in expected_excluded.items():
        assert set(excluded) >= {
            R.DUPLICATE,
            R.UNKNOWN_PROFILE,
            R.MISSING_IDENTITY,
            R.NO_CONSENT,
        }, channel
        assert expected_sent[channel]
    assert expected_excluded[C.EMAIL][R.MISSING_ATTRIBUTE] > 0
    assert expected_excluded[C.PUSH][R.MISSING_ATTRIBUTE] > 0
    assert expected_excluded[C.SMS][R.MISSING_ATTRIBUTE] == 0  # default() fallback
    assert expected_excluded[C.EMAIL][R.SUPPRESSED] > 0
    assert expected_excluded[C.SMS][R.SUPPRESSED] > 0
    assert expected_excluded[C.SMS][R.MISSING_CHANNEL_DATA] > 0
    assert expected_excluded[C.PUSH][R.MISSING_CHANNEL_DATA] > 0

    # the ledger: exactly one final entry per (unique profile, action)
    entries = ledger(kit, run.id)
    unique = list(dict.fromkeys(audience))
    assert sorted(e.key for e in entries) == sorted(
        (run.id, actions[c], pid) for c in actions for pid in unique
    )
    channel_of = {a: c for c, a in actions.items()}
    for entry in entries:
        channel = channel_of[entry.action_id]
        assert entry.state.is_final, entry
        assert entry.channel is channel
        assert entry.campaign_id == campaign.id
        assert entry.message is None  # dropped once the outcome is final
        if entry.profile_id in expected_sent[channel]:
            assert entry.state is L.SENT, entry
            assert entry.attempts == 1
            assert entry.address == address_in(profiles[entry.profile_id], channel)
        else:
            assert entry.state is L.EXCLUDED, entry
            assert entry.reason is expected_reason[channel, entry.profile_id], entry
            assert entry.attempts == 0

    # the report adds up, per action and in total
    report = admin.report(campaign.id)
    assert [r.run_id for r in report.runs] == [run.id]
    assert dict(report.runs[0].by_action) == dict(report.by_action)
    for channel, aid in actions.items():
        counts = report.by_action[aid]
        assert counts.targeted == len(audience)
        assert counts.sent == len(expected_sent[channel])
        assert counts.failed == 0
        assert dict(counts.excluded) == dict(expected_excluded[channel])
        assert balanced(counts)
        assert counts.retries == 0
    assert report.targeted == 3 * len(audience)
    assert report.sent == sum(len(s) for s in expected_sent.values())
    assert report.targeted == report.sent + report.failed + report.counts.excluded_total
    assert report.counts.pending == 0
    assert report.runs[0].counts == report.counts
    assert report.runs[0].status is ck.RunStatus.SUCCEEDED

    # the channels got exactly the sent messages, once each, fully rendered
    for channel, aid in actions.items():
        channel_double = recorded(kit, channel)
        messages = channel_double.sent[sent_before[channel] :]
        assert all(m.run_id == run.id for m in messages)
        assert sorted(m.profile_id for m in messages) == sorted(expected_sent[channel])
        provider = {e.profile_id: e.provider_message_id for e in entries if e.action_id == aid}
        for message in messages:
            profile = profiles[message.profile_id]
            assert message.action_id == aid
            assert message.campaign_id == campaign.id
            assert message.channel is channel
            assert message.idempotency_key == idempotency_key(run.id, aid, profile.id)
            assert message.address == address_in(profile, channel)
            assert message.proof is False
            assert message.transactional is False
            assert message.settings == surfaces[channel].settings
            assert dict(message.fields) == rendered(profile, channel)
            assert provider[profile.id] == f"{channel.value}-{message.idempotency_key}"
