"""``list_campaigns`` and ``calendar`` ask a host policy about each campaign (issue 10, item 8).

A per-campaign policy hides what it denies; pages stay full (only the last may be
shorter), cursors never repeat or skip an allowed campaign, and the default
profile policy is still asked once per call. Kits run in memory and on a SQLite
file; the paging itself is also checked as a pure function against a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.listing import (
    CampaignQuery,
    Page,
    decode_cursor,
    encode_cursor,
    filtered_page,
    sort_key,
)
from campaignkit.testing import ManualClock, SequentialIds
from campaignkit.testing.factories import make_campaign
from tests.factories import T0

P = ck.Permission
S = ck.CampaignStatus
MINUTE = pendulum.duration(minutes=1)


# ---------------------------------------------------------------- the host's policy


class SecretPolicy:
    """The host's policy: ada may do anything; max may read all but campaigns tagged secret."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ck.Permission, str | None]] = []

    def decide(
        self, user: str, permission: ck.Permission, campaign: ck.Campaign | None
    ) -> ck.Decision:
        self.calls.append((user, permission, None if campaign is None else campaign.id))
        if user == "ada":
            return ck.Decision(True, "owner")
        if user == "max" and permission is P.CAMPAIGN_READ:
            if campaign is not None and "secret" in campaign.tags:
                return ck.Decision(False, "secret campaign")
            return ck.Decision(True, "reader")
        return ck.Decision(False, "not granted")


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    policy: SecretPolicy
    surface: str

    @property
    def ada(self) -> ck.UserSession:
        return self.kit.as_user("ada")

    @property
    def max(self) -> ck.UserSession:
        return self.kit.as_user("max")

    def drafts(self, secret: Callable[[int], bool], count: int) -> list[str]:
        """``count`` drafts a minute apart, tagged secret where ``secret(n)``; newest first."""
        made = []
        for n in range(count):
            self.clock.advance(MINUTE)
            tags = ["secret"] if secret(n) else []
            made.append(self.ada.create_campaign(name=f"C{n:02d}", tags=tags).id)
        return made[::-1]

    def scheduled(self, name: str, *, secret: bool, days: int) -> str:
        """A campaign SCHEDULED to start ``days`` from now."""
        campaign = self.ada.create_campaign(
            name=name,
            audience="vip",
            namespace="email",
            actions=[ck.Action(self.surface, ck.EmailContent(subject="Hi", html="x"))],
            schedule=ck.Schedule(start=self.clock.now().add(days=days)),
            tags=["secret"] if secret else [],
        )
        self.ada.activate(campaign.id)
        self.kit.tick()
        assert self.ada.get(campaign.id).status is S.SCHEDULED
        return campaign.id


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    clock = ManualClock(T0)
    policy = SecretPolicy()
    if request.param == "memory":
        kit = ck.CampaignKit.in_memory(clock=clock, policy=policy, ids=SequentialIds())
    else:
        kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock, policy=policy, ids=SequentialIds())
    surface = kit.as_user("ada").create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@e.com")
    )
    kit.audiences.define("vip", ["p1"])
    yield Env(kit, clock, policy, surface.id)
    kit.close()


def pages(session: ck.UserSession, **filters: object) -> list[ck.Page[ck.Campaign]]:
    """Every page of a listing, following ``next_cursor`` (failing if it never ends)."""
    found: list[ck.Page[ck.Campaign]] = []
    cursor: str | None = None
    for _ in range(100):
        page = session.list_campaigns(cursor=cursor, **filters)  # type: ignore[arg-type]
        found.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return found
    pytest.fail("next_cursor never ran out")


# ---------------------------------------------------------------- list_campaigns


def test_a_per_campaign_policy_hides_what_it_denies_and_pages_stay_full(env: Env) -> None:
    every = env.drafts(lambda n: n % 3 == 0, 23)  # 8 secret, 15 visible
    visible = [cid for cid in every if "secret" not in env.ada.get(cid).tags]
    walked = pages(env.max, limit=4)
    assert [len(p) for p in walked] == [4, 4, 4, 3]
    listed = [c.id for p in walked for c in p]
    assert listed == visible  # newest first, none repeated, none skipped
    assert all("secret" not in c.tags for p in walked for c in p)
    assert [c.id for p in pages(env.ada, limit=50) for c in p] == every


def test_the_policy_is_asked_about_each_campaign_it_could_show(env: Env) -> None:
    every = env.drafts(lambda n: n == 1, 3)
    env.policy.calls.clear()
    page = env.max.list_campaigns()
    assert [c.id for c in page] == [every[0], every[2]]
    assert env.policy.calls == [
        ("max", P.CAMPAIGN_READ, None),  # may the user list at all
        *(("max", P.CAMPAIGN_READ, cid) for cid in every),
    ]


def test_a_full_last_page_has_no_cursor(env: Env) -> None:
    """One campaign past the page is looked for: no empty page follows a full one."""
    env.drafts(lambda n: n % 2 == 0, 8)  # 4 visible (the odd ones), the oldest is secret
    walked = pages(env.max, limit=2)
    assert [len(p) for p in walked] == [2, 2]


def test_a_long_run_of_denied_campaigns_does_not_cut_a_page_short(env: Env) -> None:
    every = env.drafts(lambda n: 2 <= n <= 14, 18)  # 13 secret between visible ones
    walked = pages(env.max, limit=3)
    assert [len(p) for p in walked] == [3, 2]
    assert [c.id for p in walked for c in p] == [every[i] for i in (0, 1, 2, 16, 17)]


def test_filters_and_the_policy_combine(env: Env) -> None:
    env.drafts(lambda n: n % 2 == 0, 6)
    for n in range(3):
        env.clock.advance(MINUTE)
        env.ada.create_campaign(name=f"Winter {n}", tags=["winter", *(["secret"] * (n == 1))])
    names = [c.name for p in pages(env.max, tag="winter", limit=1) for c in p]
    assert names == ["Winter 2", "Winter 0"]
    assert [c.name for c in env.max.list_campaigns(search="winter 1")] == []


def test_nothing_visible_is_one_empty_page(env: Env) -> None:
    env.drafts(lambda n: True, 4)
    walked = pages(env.max, limit=2)
    assert walked == [ck.Page((), None)]


def test_a_user_the_policy_denies_outright_cannot_list(env: Env) -> None:
    env.drafts(lambda n: False, 2)
    with pytest.raises(ck.PermissionDenied, match="not granted"):
        env.kit.as_user("vera").list_campaigns()
    with pytest.raises(ck.PermissionDenied, match="not granted"):
        env.kit.as_user("vera").calendar(T0, T0.add(days=7))


# ---------------------------------------------------------------- calendar


def test_the_calendar_leaves_out_denied_campaigns(env: Env) -> None:
    open_sale = env.scheduled("Open sale", secret=False, days=1)
    env.scheduled("Secret sale", secret=True, days=2)
    window = (T0, T0.add(days=10))
    assert [e.name for e in env.ada.calendar(*window)] == ["Open sale", "Secret sale"]
    assert [e.campaign_id for e in env.max.calendar(*window)] == [open_sale]


# ---------------------------------------------------------------- the default policy stays fast


def test_the_default_policy_is_asked_once_per_listing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[ck.Campaign | None] = []
    original = ck.ProfilePolicy.decide

    def counting(
        self: ck.ProfilePolicy, user: str, permission: ck.Permission, campaign: ck.Campaign | None
    ) -> ck.Decision:
        calls.append(campaign)
        return original(self, user, permission, campaign)

    monkeypatch.setattr(ck.ProfilePolicy, "decide", counting)
    clock = ManualClock(T0)
    kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    for n in range(5):
        ada.create_campaign(name=f"C{n}")
    calls.clear()
    assert len(ada.list_campaigns(limit=2)) == 2
    ada.calendar(T0, T0.add(days=1))
    assert calls == [None, None]


def test_a_profile_policy_subclass_that_decides_per_campaign_is_asked_per_campaign() -> None:
    class NoHidden(ck.ProfilePolicy):
        def decide(
            self, user: str, permission: ck.Permission, campaign: ck.Campaign | None
        ) -> ck.Decision:
            if campaign is not None and campaign.name.startswith("Hidden"):
                return ck.Decision(False, "hidden")
            return super().decide(user, permission, campaign)

    clock = ManualClock(T0)
    store = ck.InMemoryStore()
    policy = NoHidden(ck.AccessDirectory(store, clock))
    kit = ck.CampaignKit(store=store, clock=clock, ids=SequentialIds(), policy=policy)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    ada.create_campaign(name="Hidden one")
    clock.advance(MINUTE)
    ada.create_campaign(name="Shown")
    assert [c.name for c in ada.list_campaigns()] == ["Shown"]


# ---------------------------------------------------------------- the paging, against a model


def _store(campaigns: list[ck.Campaign]) -> Callable[[CampaignQuery], Page[ck.Campaign]]:
    """A store's ``query``: newest first, one page after the cursor, a cursor if more follow."""
    ordered = sorted(campaigns, key=sort_key, reverse=True)

    def fetch(query: CampaignQuery) -> Page[ck.Campaign]:
        after = decode_cursor(query.cursor) if query.cursor is not None else None
        rest = [c for c in ordered if after is None or sort_key(c) < after]
        items = rest[: query.limit]
        more = len(rest) > query.limit
        return Page(tuple(items), encode_cursor(sort_key(items[-1])) if more else None)

    return fetch


@settings(max_examples=150, deadline=None)
@given(
    shown=st.lists(st.booleans(), max_size=40),
    limit=st.integers(1, 7),
)
def test_paging_through_a_filtered_listing_matches_the_model(shown: list[bool], limit: int) -> None:
    campaigns = [
        make_campaign(f"cmp_{n:02d}", created_at=T0.add(minutes=n // 3)) for n in range(len(shown))
    ]
    allowed = {c.id for c, ok in zip(campaigns, shown, strict=True) if ok}
    fetch = _store(campaigns)
    expected = [c.id for c in sorted(campaigns, key=sort_key, reverse=True) if c.id in allowed]
    got: list[list[str]] = []
    cursor: str | None = None
    for _ in range(50):
        page = filtered_page(
            CampaignQuery(limit=limit, cursor=cursor), fetch, lambda c: c.id in allowed
        )
        got.append([c.id for c in page])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [cid for page_ids in got for cid in page_ids] == expected
    assert len(got) == max(1, math.ceil(len(expected) / limit))
    assert all(len(page_ids) == limit for page_ids in got[:-1])
