"""Shared helpers of the recipient boundary tests: a deeply nested and an unprintable value,
the environment on either store backend, and reading the problems of a refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
Kind = Literal["memory", "sqlite"]


def _deep(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return top


DEEP = _deep(100_000)


class Unprintable:
    """A value whose ``repr`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@attrs.define
class Env:
    """A kit with two profiles, an audience and two LIVE API-triggered campaigns."""

    kit: ck.CampaignKit
    receipt: str
    mailing: str
    draft: str

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user("ada")

    def state(self) -> object:
        """What a refusal must leave as it was: runs, profiles, audiences, executions."""
        with self.kit.store.unit_of_work() as uow:
            runs = [
                ck_run
                for cid in (self.receipt, self.mailing, self.draft)
                for ck_run in uow.runs.for_campaign(cid)
            ]
        profiles = [p for batch in self.kit.profiles.scan(100) for p in batch]  # type: ignore[attr-defined]
        vip = [
            p.id for b in self.kit.audiences.members("vip", namespace="", batch_size=9) for p in b
        ]
        return runs, profiles, vip


def open_env(kind: Kind, tmp_path: Path) -> Env:
    clock = ManualClock(T0)
    if kind == "memory":
        kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    else:
        kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=clock, ids=SequentialIds())
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    news = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    orders = admin.create_surface(
        name="Orders",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="orders@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    for pid in ("p1", "p2"):
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid},
                consents={EMAIL: True},
            )
        )
    kit.audiences.define("vip", ["p1", "p2"])
    hello = ck.EmailContent(subject="Hi", html="<p>Hi</p>")
    receipt = admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(orders.id, hello)],
        create_profiles=True,
    )
    mailing = admin.create_campaign(
        name="Mailing",
        type=ck.CampaignType.API_TRIGGERED,
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, hello)],
    )
    draft = admin.create_campaign(
        name="Draft", audience="vip", namespace="email", actions=[ck.Action(news.id, hello)]
    )
    admin.activate(receipt.id)
    admin.activate(mailing.id)
    kit.tick()
    return Env(kit, receipt.id, mailing.id, draft.id)


def refused(env: Env, call: Any, *expected: str) -> list[str]:
    """Call; expect a ValidationError containing each ``expected`` text; nothing stored."""
    before = env.state()
    with pytest.raises(ck.ValidationError) as excinfo:
        call()
    problems = list(excinfo.value.problems)
    text = "\n".join(problems)
    for part in expected:
        assert part in text
    assert env.state() == before
    return problems
