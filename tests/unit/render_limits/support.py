"""Shared helpers of the bounded rendering tests: small limits, rendering under them and reading
the failure, an email action, templates that break the limits, and a kit with its own limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.delivery.render import (
    CompiledContent,
    TemplateFailed,
)
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0, World

C = ck.ChannelType
L = ck.LedgerState
SMALL = ck.RenderLimits(max_output=1000, max_steps=5000, max_range=50, max_depth=8)


def render(source: str, limits: ck.RenderLimits = SMALL, **profile: Any) -> str:
    """Render ``source`` through the runner's path (compiled, one message) for ``profile``."""
    return CompiledContent.of({"body": source}).render(profile, {}, limits)["body"]


def failure(source: str, limits: ck.RenderLimits = SMALL, **profile: Any) -> str:
    """The reason rendering ``source`` fails (it must fail with TemplateFailed)."""
    with pytest.raises(TemplateFailed) as caught:
        render(source, limits, **profile)
    return str(caught.value)


def email(world: World, html: str, subject: str = "Hi") -> ck.Action:
    return ck.Action(world.email.id, ck.EmailContent(subject=subject, html=html))


DEEP_PARENS = "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}"
LONG_SUM = "{{ " + " + ".join(["1"] * 1000) + " }}"
NOTS = "{{ " + "not " * 5000 + "1 }}"
NESTED_LOOPS = "{% for i in [1] %}" * 21 + "x" + "{% endfor %}" * 21
LOOP_IN_LOOP = "{% for i in range(N) %}{% for j in range(N) %}{% endfor %}{% endfor %}"
DOUBLING = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(30) }}"
SQUARING = "{% set ns = namespace(s='a') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"


def kit_with(limits: ck.RenderLimits, path: Path | None = None) -> ck.CampaignKit:
    clock = ManualClock(T0)
    delivery = ck.DeliverySettings(render_limits=limits)
    if path is None:
        kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds(), delivery=delivery)
    else:
        kit = ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds(), delivery=delivery)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    return kit
