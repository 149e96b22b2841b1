"""Builders shared by the test suite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import pendulum

import campaignkit as ck
from campaignkit.domain.approval import Review
from campaignkit.domain.lifecycle import LifecycleRules, apply
from campaignkit.testing import ManualClock, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


@attrs.define
class World:
    """A kit on a manual clock with an administrator, a surface per channel and an audience."""

    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    email: ck.ChannelSurface
    sms: ck.ChannelSurface
    push: ck.ChannelSurface
    events: list[ck.DomainEvent]

    def email_action(self, subject: str = "Hi {{ profile.firstName }}") -> ck.Action:
        return ck.Action(self.email.id, ck.EmailContent(subject=subject, html="<p>Hello</p>"))

    def sms_action(self, text: str = "Sale!") -> ck.Action:
        return ck.Action(self.sms.id, ck.SmsContent(text=text))

    def draft(
        self,
        name: str = "Winter sale",
        *,
        start: pendulum.DateTime | None = None,
        end: pendulum.DateTime | None = None,
        recurrence: ck.Recurrence | None = None,
        timezone: str = "UTC",
        type: ck.CampaignType = ck.CampaignType.SCHEDULED,
        tags: Sequence[str] = (),
        actions: Sequence[ck.Action] | None = None,
        session: ck.UserSession | None = None,
    ) -> ck.Campaign:
        """A complete, valid DRAFT campaign."""
        return (session or self.admin).create_campaign(
            name=name,
            type=type,
            audience="vip",
            namespace="email",
            actions=list(actions) if actions is not None else [self.email_action()],
            schedule=ck.Schedule(start=start, end=end, recurrence=recurrence, timezone=timezone),
            tags=tags,
        )

    def live(self, name: str = "Winter sale", **kwargs: object) -> ck.Campaign:
        """A campaign activated and ticked to LIVE (start on activation)."""
        campaign = self.draft(name, **kwargs)  # type: ignore[arg-type]
        self.admin.activate(campaign.id)
        self.kit.tick()
        return self.admin.get(campaign.id)

    def scheduled(self, name: str = "Winter sale", *, days: int = 1) -> ck.Campaign:
        """A campaign activated and ticked to SCHEDULED, starting ``days`` ahead."""
        campaign = self.draft(name, start=self.clock.now().add(days=days))
        self.admin.activate(campaign.id)
        self.kit.tick()
        return self.admin.get(campaign.id)


def make_world(
    start: pendulum.DateTime = T0,
    *,
    policy: ck.PermissionPolicy | None = None,
    profile_permissions: Mapping[ck.ProductProfile, frozenset[ck.Permission]] | None = None,
) -> World:
    clock = ManualClock(start)
    kit = ck.CampaignKit.in_memory(
        clock=clock, ids=SequentialIds(), policy=policy, profile_permissions=profile_permissions
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    email = admin.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    sms = admin.create_surface(
        name="Alerts", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    push = admin.create_surface(
        name="App", channel=ck.ChannelType.PUSH, settings=ck.PushSettings(app_id="com.shop")
    )
    kit.audiences.define("vip", ["p1", "p2"])
    events: list[ck.DomainEvent] = []
    kit.subscribe(events.append)
    return World(kit, clock, admin, email, sms, push, events)


def campaign_in(
    status: ck.CampaignStatus,
    *,
    recurring: bool = False,
    type: ck.CampaignType = ck.CampaignType.SCHEDULED,
    open_draft: bool = False,
    draft_in_review: bool = False,
) -> ck.Campaign:
    """A pure campaign value in ``status`` (for table-driven domain tests)."""
    version = ck.CampaignVersion(
        number=1,
        created_at=T0,
        created_by="ada",
        actions=(ck.Action("srf", ck.SmsContent(text="hi"), "act"),),
        audience="vip",
        namespace="email",
        schedule=ck.Schedule(
            start=T0.add(days=1) if status is ck.CampaignStatus.SCHEDULED else None,
            recurrence=ck.Recurrence.daily(at="09:00") if recurring else None,
        ),
    )
    is_draft = status in (ck.CampaignStatus.DRAFT, ck.CampaignStatus.IN_REVIEW)
    live = None if is_draft else version
    draft = version if is_draft else None
    if open_draft and live is not None:
        draft = attrs.evolve(version, number=2)
    campaign = ck.Campaign(
        id="cmp",
        name="C",
        type=type,
        category=ck.Category.MARKETING,
        status=status,
        created_at=T0,
        created_by="ada",
        updated_at=T0,
        live_version=live,
        draft_version=draft,
        activated_at=None if is_draft else T0,
        went_live_at=T0 if status is ck.CampaignStatus.LIVE else None,
        review=_review(status, draft_in_review),
    )
    return attrs.evolve(campaign, due_at=_due(campaign))


def make_review(version: int = 1, message: str | None = "please look") -> Review:
    """A review request by max under a policy named Legal whose reviewer is april."""
    return Review(
        requester="max",
        requested_at=T0,
        version=version,
        policy_id="apr",
        policy_name="Legal",
        reviewers=frozenset({"april"}),
        reviewer_groups=frozenset(),
        block_self_approval=False,
        message=message,
    )


def _review(status: ck.CampaignStatus, draft_in_review: bool) -> Review | None:
    """A pending review for IN_REVIEW campaigns and for drafts marked in review."""
    if status is not ck.CampaignStatus.IN_REVIEW and not draft_in_review:
        return None
    return make_review(version=2 if draft_in_review else 1)


def _due(campaign: ck.Campaign) -> pendulum.DateTime | None:
    from campaignkit.domain.lifecycle import next_due

    return next_due(campaign, LifecycleRules())


__all__ = ["T0", "World", "apply", "campaign_in", "make_review", "make_world"]


def person(pid: str, **attributes: object) -> ck.Profile:
    """A profile reachable by email (``<pid>@example.com``, consent given) with ``attributes``."""
    return ck.Profile(
        pid,
        identities={"email": f"{pid}@example.com"},
        consents={ck.ChannelType.EMAIL: True},
        attributes=attributes,
    )


def reset_campaign(session: ck.UserSession, html: str = "{{ context.link }}") -> ck.Campaign:
    """A draft API-triggered transactional email campaign that creates its profiles.

    Its surface (``Reset``, ``no-reply@example.com``) is made for it; the
    subject is ``Reset`` and ``html`` the body.
    """
    surface = session.create_surface(
        name="Reset",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="no-reply@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    return session.create_campaign(
        name="Reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        create_profiles=True,
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Reset", html=html))],
    )


def bypass(profile: ck.Profile, **fields: object) -> ck.Profile:
    """A copy of ``profile`` with fields its constructor would refuse (host data)."""
    copy = attrs.evolve(profile)
    for name, value in fields.items():
        object.__setattr__(copy, name, value)
    return copy
