"""``session.check``: problems and warnings before activation, nothing changed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds

T0 = pendulum.datetime(2027, 4, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS
SECRET = "check-tests-unsubscribe-secret"


def person(pid: str, *, consent: bool = True, **attributes: object) -> ck.Profile:
    return ck.Profile(
        pid,
        identities={"email": f"{pid}@example.com"},
        consents={EMAIL: consent},
        attributes=attributes,
    )


class FailingAudiences:
    """A host audience source that is down."""

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.READY

    def count(self, name: str) -> int | None:
        raise ConnectionError("audience service unreachable")

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        raise ConnectionError("audience service unreachable")


@attrs.define
class Env:
    kit: ck.CampaignKit
    admin: ck.UserSession
    surface: ck.ChannelSurface

    def draft(
        self,
        audience: str | None = "crowd",
        subject: str = "Hi {{ profile.firstName }}",
        type: ck.CampaignType = ck.CampaignType.SCHEDULED,
    ) -> ck.Campaign:
        return self.admin.create_campaign(
            name="Spring",
            type=type,
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
        )


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    clock = ManualClock(T0)
    if request.param == "sqlite":
        kit = ck.CampaignKit.sqlite(
            tmp_path / "kit.db", clock=clock, ids=SequentialIds(), secret=SECRET
        )
    else:
        kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds(), secret=SECRET)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    settings = ck.EmailSettings(sender="n@example.com", unsubscribe_url="https://example.com/u")
    surface = admin.create_surface(name="News", channel=EMAIL, settings=settings)
    yield Env(kit, admin, surface)
    kit.close()


def test_a_sound_campaign_is_ok_without_warnings_and_nothing_changes(env: Env) -> None:
    for pid in ("a", "b"):
        env.kit.profiles.upsert(person(pid, firstName=pid.upper()))
    env.kit.audiences.define("crowd", ["a", "b"])
    campaign = env.draft()
    result = env.admin.check(campaign.id)
    assert result == ck.CheckResult(campaign.id, 1, (), (), audience_size=2, sampled=2)
    assert result.ok
    assert env.admin.get(campaign.id) == campaign  # nothing stored, no history
    assert env.kit.channels[EMAIL].sent == []


def test_missing_attributes_unknown_profiles_and_exclusions_are_warnings(env: Env) -> None:
    env.kit.profiles.upsert(person("named", firstName="Nia"))
    env.kit.profiles.upsert(person("nameless"))
    env.kit.profiles.upsert(person("optout", consent=False, firstName="Otto"))
    env.kit.audiences.define("crowd", ["named", "nameless", "ghost", "optout", "x1", "x2"])
    campaign = env.draft()
    result = env.admin.check(campaign.id)
    assert result.ok
    assert (result.audience_size, result.sampled) == (6, 5)  # the first five only
    (missing, summary) = result.warnings
    assert "profile 'nameless'" in missing
    assert "firstName" in missing
    assert "missing_attribute" in missing
    assert summary == (
        "in a sample of 5 audience members, messages would be excluded: "
        "2 unknown_profile, 1 no_consent, 1 missing_attribute"
    )


def test_nobody_sampled_would_receive_a_message(env: Env) -> None:
    env.kit.audiences.define("crowd", ["ghost-1", "ghost-2"])
    result = env.admin.check(env.draft().id)
    assert result.ok  # activation accepts it, which is why the check warns
    assert result.warnings[-1] == (
        "none of the 2 sampled audience members would receive a message (audience of 2)"
    )


def test_an_empty_audience_is_a_warning(env: Env) -> None:
    env.kit.audiences.define("crowd", [])
    result = env.admin.check(env.draft().id)
    assert result.warnings == ("audience 'crowd' is empty: nobody would receive a message",)
    assert (result.audience_size, result.sampled) == (0, 0)


def test_a_template_that_fails_to_render_is_a_warning(env: Env) -> None:
    env.kit.profiles.upsert(person("a", firstName="Ann"))
    env.kit.audiences.define("crowd", ["a"])
    result = env.admin.check(env.draft(subject="{{ profile.firstName + 1 }}").id)
    (warning, nobody) = result.warnings
    assert "profile 'a'" in warning
    assert "fails to render" in warning
    assert nobody.startswith("none of the 1 sampled")


def test_activation_problems_are_listed_and_not_ok(env: Env) -> None:
    env.kit.profiles.upsert(person("a", firstName="Ann"))
    env.kit.audiences.define("crowd", ["a"])
    for audience, subject, expected in [
        ("nowhere", "Hi", "audience 'nowhere' does not exist"),
        ("crowd", "Hi {{ profile.firstName", "subject"),  # the template does not compile
    ]:
        campaign = env.draft(audience=audience, subject=subject)
        result = env.admin.check(campaign.id)
        assert not result.ok
        assert any(expected in p for p in result.problems), result.problems
        with pytest.raises(ck.ValidationError) as refused:
            env.admin.activate(campaign.id)
        assert set(result.problems) <= set(refused.value.problems)


def test_a_campaign_that_cannot_be_activated_says_why(env: Env) -> None:
    env.kit.profiles.upsert(person("a", firstName="Ann"))
    env.kit.audiences.define("crowd", ["a"])
    campaign = env.draft()
    env.admin.activate(campaign.id)
    env.kit.tick()  # LIVE, without an open draft
    result = env.admin.check(campaign.id)
    assert not result.ok
    assert result.version == 1
    assert any("activate" in p for p in result.problems)


def test_an_api_triggered_campaign_without_audience_is_not_sampled(env: Env) -> None:
    campaign = env.draft(audience=None, type=ck.CampaignType.API_TRIGGERED)
    result = env.admin.check(campaign.id)
    assert result.ok
    assert result.warnings == (
        "nothing was sampled: it has no audience: recipients come with each trigger call",
    )


def test_an_api_triggered_campaign_samples_with_an_empty_context(env: Env) -> None:
    env.kit.profiles.upsert(person("a", firstName="Ann"))
    env.kit.audiences.define("crowd", ["a"])
    campaign = env.draft(subject="Order {{ context.order.id }}", type=ck.CampaignType.API_TRIGGERED)
    result = env.admin.check(campaign.id)
    assert "with an empty API context" in result.warnings[0]


def test_unusable_host_profile_data_is_a_warning(env: Env) -> None:
    broken = person("a", firstName="Ann")
    object.__setattr__(broken, "identities", None)  # a host store that was never checked

    class Host:
        def status(self, name: str) -> ck.AudienceStatus | None:
            return ck.AudienceStatus.READY

        def count(self, name: str) -> int | None:
            return 1

        def members(
            self, name: str, *, namespace: str, batch_size: int
        ) -> Iterator[Sequence[ck.Profile]]:
            yield [broken]

    kit = ck.CampaignKit.in_memory(clock=ManualClock(T0), audiences=Host())
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    result = Env(kit, admin, surface).admin.check(
        Env(kit, admin, surface).draft(audience="host").id
    )
    assert "profile data cannot be used: AttributeError" in result.warnings[0]


def test_an_unreachable_audience_source_is_a_warning() -> None:
    kit = ck.CampaignKit.in_memory(
        clock=ManualClock(T0), audiences=FailingAudiences(), secret=SECRET
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    settings = ck.EmailSettings(sender="n@example.com", unsubscribe_url="https://example.com/u")
    surface = admin.create_surface(name="News", channel=EMAIL, settings=settings)
    result = admin.check(Env(kit, admin, surface).draft(audience="remote").id)
    assert result.ok
    assert result.warnings == (
        "audience 'remote' could not be read: ConnectionError: audience service unreachable",
    )


def test_check_needs_campaign_read(env: Env) -> None:
    env.kit.audiences.define("crowd", [])
    campaign = env.draft()
    env.kit.access.assign("vic", ck.ProductProfile.VIEWER)
    assert env.kit.as_user("vic").check(campaign.id).version == 1
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.read"):
        env.kit.as_user("nobody").check(campaign.id)
    with pytest.raises(ck.NotFound):
        env.admin.check("cmp_missing")


@pytest.mark.parametrize("bad", [None, 7, "", ["cmp"]])
def test_check_refuses_a_campaign_id_that_is_not_a_string(env: Env, bad: object) -> None:
    with pytest.raises(ck.ValidationError, match="campaign_id"):
        env.admin.check(bad)  # type: ignore[arg-type]


def test_an_approval_policy_that_applies_is_a_warning(env: Env) -> None:
    env.kit.profiles.upsert(person("a", firstName="Ann"))
    env.kit.audiences.define("crowd", ["a"])
    policy = env.admin.create_approval_policy(name="Legal check", reviewers=["april"])
    env.admin.activate_approval_policy(policy.id)
    result = env.admin.check(env.draft().id)
    assert result.ok
    assert result.warnings == (
        "approval policy 'Legal check' applies when 'ada' submits it: "
        "use request_approval(), activate() would raise ApprovalRequired",
    )
