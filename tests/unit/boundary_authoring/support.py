"""Helpers of the authoring boundary tests: an env of a kit in memory or on a SQLite file, and
reading the refused argument names of a validation error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
HOUR = pendulum.duration(hours=1)
SURROGATE = "a\ud800b"


@attrs.define
class Env:
    """A kit with an administrator, an email surface, a draft and a policy."""

    kit: ck.CampaignKit
    admin: ck.UserSession
    surface: ck.ChannelSurface
    draft: ck.Campaign
    policy: ck.ApprovalPolicy

    def action(self) -> ck.Action:
        return ck.Action(self.surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))

    def state(self) -> object:
        """Everything an authoring verb could change, to compare before and after."""
        admin = self.admin
        campaigns = admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
        return (
            [(c.id, c.revision, c.name, c.tags, c.description) for c in campaigns],
            [(s.id, s.name, s.status) for s in admin.list_surfaces()],
            [(p.id, p.name, p.status, p.revision) for p in admin.list_approval_policies()],
            len(self.kit.access.audit_log()),
            self.kit.access.assignments(),
        )


def make_env(kit: ck.CampaignKit) -> Env:
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings("n@example.com")
    )
    draft = admin.create_campaign(name="Winter", tags=["promo"])
    policy = admin.create_approval_policy(name="Review", reviewers=["bob"])
    return Env(kit, admin, surface, draft, policy)


def open_kit(kind: str, tmp_path: Path) -> ck.CampaignKit:
    clock = ManualClock(T0)
    if kind == "memory":
        return ck.CampaignKit.in_memory(clock, ids=SequentialIds())
    return ck.CampaignKit.sqlite(tmp_path / f"{kind}.db", clock, ids=SequentialIds())


def refused(env: Env, call: Callable[[Env], object]) -> list[str]:
    """The problems of the ValidationError ``call`` raises; asserts nothing changed."""
    before = env.state()
    with pytest.raises(ck.ValidationError) as caught:
        call(env)
    assert env.state() == before
    return caught.value.problems


def names(problems: list[str], *fragments: str) -> None:
    """Assert that some problem mentions every fragment."""
    assert any(all(f in p for f in fragments) for p in problems), problems
