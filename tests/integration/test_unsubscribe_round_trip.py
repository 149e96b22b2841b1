"""The one-click unsubscribe round trip, on the memory and the SQLite store.

A marketing email carries its recipient's signed URL (in ``Message.unsubscribe_url``
for the ``List-Unsubscribe`` header, and in ``{{ unsubscribe_url }}``);
``kit.unsubscribe(url)`` withdraws the consent and counts the feedback once;
the next marketing campaign excludes the profile (``no_consent``); a forged
token changes nothing; transactional mail never carries a URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.unsubscribe import UnsubscribeSigner, UnsubscribeToken
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from tests.factories import T0

C = ck.ChannelType
F = ck.FeedbackEvent
SECRET = "round-trip-secret-0123456789"
BASE = "https://example.com/u?list=news"
HTML = '<p>Hi {{ profile.firstName }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    marketing: ck.ChannelSurface
    transactional: ck.ChannelSurface
    path: Path
    backend: str

    @property
    def email(self) -> RecordingChannel:
        channel = self.kit.channels[C.EMAIL]
        assert isinstance(channel, RecordingChannel)
        return channel

    def launch(self, name: str, html: str = HTML, audience: str = "vip") -> ck.Campaign:
        campaign = self.admin.create_campaign(
            name=name,
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.marketing.id, ck.EmailContent(subject="Sale", html=html))],
        )
        self.admin.activate(campaign.id)
        self.kit.tick()
        return self.admin.get(campaign.id)

    def consent(self, profile_id: str) -> bool | None:
        profile = self.kit.profiles.get(profile_id)
        assert profile is not None
        return profile.consents.get(C.EMAIL)

    def feedback(self, campaign_id: str) -> list[ck.FeedbackRecord]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.feedback.for_campaign(campaign_id))


def make_kit(backend: str, path: Path, clock: ManualClock, **kwargs: object) -> ck.CampaignKit:
    if backend == "sqlite":
        return ck.CampaignKit.sqlite(path, clock, ids=SequentialIds(), **kwargs)  # type: ignore[arg-type]
    return ck.CampaignKit.in_memory(clock, ids=SequentialIds(), **kwargs)  # type: ignore[arg-type]


def build(backend: str, tmp_path: Path) -> Env:
    """A kit with a secret, a marketing and a transactional surface, two consenting profiles."""
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    kit = make_kit(backend, path, clock, secret=SECRET)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    settings = ck.EmailSettings(
        sender="news@example.com", unsubscribe_url=BASE, unsubscribe_mailto="u@example.com"
    )
    marketing = admin.create_surface(name="News", channel=C.EMAIL, settings=settings)
    transactional = admin.create_surface(
        name="Receipts", channel=C.EMAIL, settings=settings, category=ck.Category.TRANSACTIONAL
    )
    for pid, name in (("p1", "Ann"), ("p2", "Bob")):
        kit.profiles.upsert(
            ck.Profile(
                pid,
                identities={"email": f"{pid}@example.com"},
                consents={C.EMAIL: True},
                attributes={"firstName": name},
            )
        )
    kit.audiences.define("vip", ["p1", "p2"])
    return Env(kit, clock, admin, marketing, transactional, path, backend)


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    built = build(str(request.param), tmp_path)
    yield built
    built.kit.close()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    built = build("sqlite", tmp_path)
    yield built
    built.kit.close()


def test_the_round_trip_withdraws_consent_once_and_excludes_the_next_campaign(env: Env) -> None:
    first = env.launch("Winter sale")
    sent = {m.profile_id: m for m in env.email.sent}
    assert set(sent) == {"p1", "p2"}
    message = sent["p1"]
    url = message.unsubscribe_url
    assert url is not None
    assert url.startswith(f"{BASE}&token=u1.")
    assert f'<a href="{url}">Unsubscribe</a>' in message.fields["html"]
    assert sent["p2"].unsubscribe_url != url  # one token per recipient
    with env.kit.store.unit_of_work() as uow:
        [run] = uow.runs.for_campaign(first.id)

    env.clock.advance(minutes=5)
    result = env.kit.unsubscribe(url)
    assert result.recorded
    assert result.token == ck.UnsubscribeToken(
        "p1", C.EMAIL, first.id, run.id, message.action_id, proof=False
    )
    assert result.feedback == ck.FeedbackRecord(
        at=T0.add(minutes=5),
        provider_message_id=message.idempotency_key,
        event=F.UNSUBSCRIBED,
        run_id=run.id,
        action_id=message.action_id,
        profile_id="p1",
        campaign_id=first.id,
    )
    report = env.admin.report(first.id)
    assert dict(report.feedback) == {F.UNSUBSCRIBED: 1}
    assert dict(report.by_action[message.action_id].feedback) == {F.UNSUBSCRIBED: 1}
    assert env.consent("p1") is False
    assert env.consent("p2") is True

    # a mailbox provider POSTs twice; the bare token works too: nothing more is counted
    again = env.kit.unsubscribe(url.split("token=")[1])
    assert (again.recorded, again.feedback, again.token) == (False, None, result.token)
    assert env.kit.unsubscribe(url).recorded is False
    assert dict(env.admin.report(first.id).feedback) == {F.UNSUBSCRIBED: 1}
    assert len(env.feedback(first.id)) == 1

    env.email.clear()
    second = env.launch("Spring sale")
    assert [m.profile_id for m in env.email.sent] == ["p2"]
    report = env.admin.report(second.id)
    assert dict(report.excluded) == {ck.ExclusionReason.NO_CONSENT: 1}
    assert report.sent == 1


def test_a_forged_or_foreign_token_is_refused_and_changes_nothing(env: Env) -> None:
    first = env.launch("Winter sale")
    url = next(m.unsubscribe_url for m in env.email.sent if m.profile_id == "p1")
    assert url is not None
    before = env.admin.report(first.id)
    token = url.split("token=")[1]
    version, payload, signature = token.split(".")
    other = next(m.unsubscribe_url for m in env.email.sent if m.profile_id == "p2")
    assert other is not None
    other_payload = other.split("token=")[1].split(".")[1]
    forged = [
        f"{version}.{other_payload}.{signature}",  # someone else's payload, this signature
        f"{version}.{payload}.{signature[:-2]}",  # truncated
        UnsubscribeSigner("another-host-secret-entirely").url(
            BASE, UnsubscribeToken("p1", C.EMAIL, first.id, "run_1", "act_1")
        ),
        f"{BASE}&token=garbage",
    ]
    for attempt in forged:
        with pytest.raises(ck.ValidationError, match="token is not a valid unsubscribe token"):
            env.kit.unsubscribe(attempt)
    with pytest.raises(ck.ValidationError, match="url_or_token must be a string"):
        env.kit.unsubscribe(None)  # type: ignore[arg-type]
    assert env.admin.report(first.id) == before
    assert env.feedback(first.id) == []
    assert (env.consent("p1"), env.consent("p2")) == (True, True)


def test_transactional_messages_never_carry_a_url(env: Env) -> None:
    receipt = env.admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[
            ck.Action(env.transactional.id, ck.EmailContent(subject="Receipt", html="<p>ok</p>"))
        ],
    )
    env.admin.activate(receipt.id)
    env.kit.tick()
    env.admin.trigger(receipt.id, [ck.Recipient("p1@example.com", "email")], request_id="r1")
    env.kit.tick()
    [message] = env.email.sent
    assert message.transactional
    assert message.unsubscribe_url is None
    assert "token=" not in message.fields["html"]


def test_a_marketing_message_carries_the_url_even_when_its_template_does_not(env: Env) -> None:
    env.launch("Plain", html="<p>no link in the body</p>")
    urls = [m.unsubscribe_url for m in env.email.sent]
    assert len(urls) == 2
    assert all(u is not None and u.startswith(f"{BASE}&token=u1.") for u in urls)


def test_a_proof_carries_a_url_that_verifies_and_changes_nothing(env: Env) -> None:
    tester = ck.Profile(
        "t1", identities={"email": "t1@example.com"}, attributes={"firstName": "Tess"}, test=True
    )
    env.kit.profiles.upsert(tester)
    draft = env.admin.create_campaign(
        name="Draft",
        audience="vip",
        namespace="email",
        actions=[ck.Action(env.marketing.id, ck.EmailContent(subject="Sale", html=HTML))],
    )
    [proof] = env.admin.send_proof(draft.id, ["t1"])
    url = proof.message.unsubscribe_url
    assert url is not None
    assert url in proof.message.fields["html"]
    result = env.kit.unsubscribe(url)
    assert result.token.proof
    assert result.token.profile_id == "t1"
    assert (result.recorded, result.feedback) == (False, None)
    assert env.kit.profiles.get("t1") == tester
    assert env.feedback(draft.id) == []


def test_a_proof_whose_template_needs_a_url_that_cannot_be_given_is_refused() -> None:
    kit = ck.CampaignKit.in_memory(ManualClock(T0), ids=SequentialIds())  # no secret
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="n@example.com", unsubscribe_url=BASE),
    )
    kit.profiles.upsert(ck.Profile("t1", identities={"email": "t1@example.com"}, test=True))
    draft = admin.create_campaign(
        name="Draft",
        audience="vip",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Sale", html=HTML))],
    )
    with pytest.raises(ck.ValidationError) as caught:
        admin.send_proof(draft.id, ["t1"])
    [problem] = caught.value.problems
    assert "the template uses {{ unsubscribe_url }}, which these messages cannot" in problem
    assert "the kit has no secret" in problem
    assert kit.channels[C.EMAIL].sent == []


def test_a_token_for_a_profile_or_run_that_is_gone_does_not_crash(env: Env) -> None:
    first = env.launch("Winter sale")
    with env.kit.store.unit_of_work() as uow:
        [run] = uow.runs.for_campaign(first.id)
    action_id = first.newest_version.actions[0].id
    signer = UnsubscribeSigner(SECRET)  # the host's secret: as if the kit had signed it
    ghost = signer.url(BASE, UnsubscribeToken("ghost", C.EMAIL, first.id, run.id, action_id))
    result = env.kit.unsubscribe(ghost)
    assert result.recorded  # counted in the report, once; no consent to withdraw
    assert env.kit.unsubscribe(ghost).recorded is False
    assert dict(env.admin.report(first.id).feedback) == {F.UNSUBSCRIBED: 1}
    gone_run = signer.sign(UnsubscribeToken("p2", C.EMAIL, first.id, "run_gone", action_id))
    assert env.kit.unsubscribe(gone_run).recorded  # no run to count in; the consent goes
    assert env.consent("p2") is False
    assert dict(env.admin.report(first.id).feedback) == {F.UNSUBSCRIBED: 1}
    assert [r.profile_id for r in env.feedback(first.id)] == ["ghost", "p2"]


def test_a_kit_without_a_secret_sends_no_url_and_cannot_verify(env: Env) -> None:
    kit = ck.CampaignKit.in_memory(env.clock, ids=SequentialIds())
    assert kit.unsubscribe_signer is None
    with pytest.raises(ck.ValidationError, match="the kit has no secret to verify"):
        kit.unsubscribe(f"{BASE}&token=u1.a.b")
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="n@example.com", unsubscribe_url=BASE),
    )
    kit.profiles.upsert(
        ck.Profile("p1", identities={"email": "p1@example.com"}, consents={C.EMAIL: True})
    )
    kit.audiences.define("vip", ["p1"])
    campaign = admin.create_campaign(
        name="Plain",
        audience="vip",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
    )
    admin.activate(campaign.id)
    kit.tick()
    [message] = kit.channels[C.EMAIL].sent
    assert message.unsubscribe_url is None


def _later(env: Env, name: str) -> ck.Campaign:
    campaign = env.admin.create_campaign(
        name=name,
        audience="vip",
        namespace="email",
        actions=[ck.Action(env.marketing.id, ck.EmailContent(subject="Sale", html=HTML))],
        schedule=ck.Schedule(start=T0.add(hours=1)),
    )
    env.admin.activate(campaign.id)  # the kit has a secret: accepted
    return campaign


def _reopen_without_secret(env: Env) -> None:
    env.kit.close()
    env.kit = ck.CampaignKit.sqlite(env.path, env.clock, ids=SequentialIds())
    env.admin = env.kit.as_user("ada")


def test_a_template_whose_url_can_no_longer_be_given_is_refused_later(sqlite_env: Env) -> None:
    env = sqlite_env  # the same store, reopened by a kit without a secret
    prepared = _later(env, "Prepared")
    env.kit.tick()  # prepared (SCHEDULED) by the kit with the secret
    assert env.admin.get(prepared.id).status is ck.CampaignStatus.SCHEDULED
    unprepared = _later(env, "Unprepared")
    _reopen_without_secret(env)
    env.kit.run_until(T0.add(hours=2))
    # still to prepare: the preparation's preflight fails the campaign, saying why
    failed = env.admin.get(unprepared.id)
    assert failed.status is ck.CampaignStatus.FAILED
    assert "the kit has no secret to sign unsubscribe tokens" in failed.history[-1].detail
    # prepared already: its run fails each message with the reason, nothing is sent
    with env.kit.store.unit_of_work() as uow:
        runs = list(uow.runs.for_campaign(prepared.id))
        entries = [e for run in runs for e in uow.ledger.entries(run.id)]
    assert env.email.sent == []
    assert len(entries) == 2
    for entry in entries:
        assert entry.state is ck.LedgerState.FAILED
        assert entry.error is not None
        assert "the template uses {{ unsubscribe_url }}" in entry.error
        assert "the kit has no secret" in entry.error
    assert env.admin.report(prepared.id).failed == 2


def test_surfaces_and_exports_keep_the_unsubscribe_settings(env: Env, tmp_path: Path) -> None:
    campaign = env.admin.create_campaign(
        name="Exported",
        audience="vip",
        namespace="email",
        actions=[ck.Action(env.marketing.id, ck.EmailContent(subject="Sale", html=HTML))],
    )
    package = json.loads(json.dumps(env.admin.export([campaign.id])))
    if env.backend == "sqlite":  # the surface document survives a restart
        env.kit.close()
        env.kit = ck.CampaignKit.sqlite(env.path, env.clock, secret=SECRET)
        env.admin = env.kit.as_user("ada")
    surface = env.admin.get_surface(env.marketing.id)
    assert surface.settings == env.marketing.settings
    assert isinstance(surface.settings, ck.EmailSettings)
    assert surface.settings.unsubscribe_url == BASE
    assert surface.settings.unsubscribe_mailto == "u@example.com"

    target = make_kit(
        "sqlite", tmp_path / "target.db", env.clock, secret="target-secret-0123456789"
    )
    target.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = target.as_user("ada")
    ada.create_surface(
        name="News",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="t@example.org", unsubscribe_url="https://t.example/u"),
    )
    target.audiences.define("vip", [])
    [imported] = ada.import_(package)
    content = imported.newest_version.actions[0].content
    assert isinstance(content, ck.EmailContent)
    assert content.html == HTML
    assert ada.check(imported.id).ok
    target.close()
