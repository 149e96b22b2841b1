"""``RenderLimits``: sensible exported defaults, bad limits refused naming the argument, and a
kit activating and delivering with its own limits, trigger profile overlays included."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.delivery.budget import (
    MAX_NESTING,
)
from tests.unit.render_limits.support import SMALL, C, L, kit_with

# ---------------------------------------------------------------- RenderLimits


def test_defaults_are_sensible_and_exported() -> None:
    limits = ck.RenderLimits()
    assert (limits.max_output, limits.max_steps, limits.max_range, limits.max_depth) == (
        262_144,
        100_000,
        10_000,
        32,
    )
    assert ck.DeliverySettings().render_limits == limits


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"max_output": 0}, "max_output is 0; it must be at least 1"),
        ({"max_steps": "many"}, "max_steps must be a whole number"),
        ({"max_range": True}, "max_range must be a whole number"),
        (
            {"max_depth": MAX_NESTING + 1},
            f"max_depth is 65; it must be at least 1 and at most {MAX_NESTING}",
        ),
    ],
)
def test_bad_limits_are_refused_naming_the_argument(
    arguments: Mapping[str, Any], problem: str
) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.RenderLimits(**arguments)
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_delivery_settings_refuse_anything_but_render_limits() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.DeliverySettings(render_limits={"max_output": 10})  # type: ignore[arg-type]
    assert "render_limits must be a RenderLimits" in caught.value.problems[0]


# ---------------------------------------------------------------- configurable limits


def test_the_kit_activates_and_delivers_with_its_own_limits(small_kit: ck.CampaignKit) -> None:
    admin = small_kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=C.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    small_kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "p1@example.com"},
            attributes={"bio": "b" * 2000},
            consents={C.EMAIL: True},
        )
    )
    small_kit.audiences.define("vip", ["p1"])

    def draft(html: str) -> ck.Campaign:
        return admin.create_campaign(
            name="C",
            audience="vip",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html=html))],
            schedule=ck.Schedule(),
        )

    refused = draft(
        "{% for i in range(60) %}{% endfor %}"
    )  # fine by default, not with max_range=50
    with pytest.raises(ck.ValidationError) as caught:
        admin.activate(refused.id)
    assert "the limit is 50 (RenderLimits.max_range)" in caught.value.problems[0]
    nested = draft("{{ " + "(" * 9 + "1" + ")" * 9 + " }}")
    with pytest.raises(ck.ValidationError) as caught:
        admin.activate(nested.id)
    assert "more than 8 levels" in caught.value.problems[0]

    campaign = draft("{{ profile.bio }}")  # pure substitution: the fast path, capped too
    admin.activate(campaign.id)
    small_kit.tick()
    with small_kit.store.unit_of_work() as uow:
        [run] = uow.runs.for_campaign(campaign.id)
        [entry] = uow.ledger.entries(run.id)
    assert entry.state is L.FAILED
    assert (
        entry.error
        == "message too long: more than 1,000 characters (RenderLimits.max_output) (in html)"
    )


def test_a_huge_trigger_profile_overlay_is_capped_by_the_output_cap(tmp_path: Path) -> None:
    kit = kit_with(SMALL)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="Receipts",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="r@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    kit.profiles.upsert(
        ck.Profile(id="ann", identities={"email": "ann@example.com"}, consents={C.EMAIL: True})
    )
    campaign = admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[
            ck.Action(surface.id, ck.EmailContent(subject="Hi", html="{{ profile.note|upper }}"))
        ],
        schedule=ck.Schedule(),
    )
    admin.activate(campaign.id)
    kit.tick()
    admin.trigger(
        campaign.id,
        [ck.Recipient("ann@example.com", "email", profile={"note": "n" * 50_000})],
        request_id="big",
    )
    admin.trigger(
        campaign.id,
        [ck.Recipient("ann@example.com", "email", profile={"note": "short"})],
        request_id="small",
    )
    kit.tick()
    with kit.store.unit_of_work() as uow:
        entries = [
            e for run in uow.runs.for_campaign(campaign.id) for e in uow.ledger.entries(run.id)
        ]
    states = sorted((e.state.value, e.error or "") for e in entries)
    assert states == [
        (
            L.FAILED.value,
            "text too long: |upper would build 50,000 characters; the limit is 1,000 "
            "(RenderLimits.max_output) (in html)",
        ),
        (L.SENT.value, ""),
    ]
    channel = kit.channels[C.EMAIL]
    assert [m.fields["html"] for m in channel.sent] == ["SHORT"]
