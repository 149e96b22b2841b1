"""A store out of reach for a moment (``StorageUnavailable``) stops the tick, not the work.

The error is transient: nothing of the failed unit of work was written. The
engine must neither FAIL the run it was delivering nor set a campaign aside
(set-aside items wait until their due time changes); it ends the tick with
the error, so the worker loop logs it and ticks again, and the next tick
does the work. PostgreSQL raises it when a connection is lost
(``tests/integration/test_postgres_kit.py`` kills real backends); here each
place the engine can meet it is reached in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.runner import Runner
from campaignkit.engine import LifecycleEngine
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from tests.factories import person

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL


def _kit() -> tuple[ck.CampaignKit, ck.UserSession, ck.Campaign, RecordingChannel]:
    channel = RecordingChannel("email")
    kit = ck.CampaignKit.in_memory(
        clock=ManualClock(T0), ids=SequentialIds(), channels={EMAIL: channel}
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    for pid in ("a", "b", "c"):
        kit.profiles.upsert(person(pid))
    kit.audiences.define("crowd", ["a", "b", "c"])
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="Hello",
        audience="crowd",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
    )
    return kit, ada, campaign, channel


def _once(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """Make ``owner.name`` raise ``StorageUnavailable`` on its first call only."""
    original: Callable[..., Any] = getattr(owner, name)
    calls: list[int] = []

    def flaky(self: object, *args: object, **kwargs: object) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ck.StorageUnavailable("the connection to the store was lost")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


def _finish_after_the_outage(
    kit: ck.CampaignKit, ada: ck.UserSession, campaign: ck.Campaign, channel: RecordingChannel
) -> None:
    with pytest.raises(ck.StorageUnavailable, match="connection to the store was lost"):
        kit.tick()
    kit.tick()  # the same instant: the work is still due, nothing was set aside or FAILED
    assert ada.get(campaign.id).status is ck.CampaignStatus.LIVE
    [run] = ada.report(campaign.id).runs
    assert run.status is ck.RunStatus.SUCCEEDED
    assert sorted(m.profile_id for m in channel.sent) == ["a", "b", "c"]  # none twice


def test_a_campaign_step_that_meets_it_is_not_set_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    kit, ada, campaign, channel = _kit()
    ada.activate(campaign.id)
    calls = _once(monkeypatch, LifecycleEngine, "_due_command")
    _finish_after_the_outage(kit, ada, campaign, channel)
    assert len(calls) >= 2


@pytest.mark.parametrize("step", ["claim", "_deliver_run"])
def test_a_run_that_meets_it_is_handed_back_not_failed(
    monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    kit, ada, campaign, channel = _kit()
    ada.activate(campaign.id)
    calls = _once(monkeypatch, Runner, step)
    _finish_after_the_outage(kit, ada, campaign, channel)
    assert len(calls) == 2


def test_failing_a_run_while_the_store_is_gone_raises_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that must be FAILED (a bug) when the store is gone: the tick ends with the
    outage, and the run is failed by the next tick instead of being lost."""
    kit, ada, campaign, _ = _kit()
    ada.activate(campaign.id)

    def broken(self: Runner, *args: object) -> ck.Run:
        raise RuntimeError("a bug in the pipeline")

    monkeypatch.setattr(Runner, "_deliver_run", broken)
    calls = _once(monkeypatch, Runner, "_finish")
    with pytest.raises(ck.StorageUnavailable):
        kit.tick()
    kit.clock.advance(pendulum.duration(hours=1))  # type: ignore[attr-defined]  # lease lapses
    with caplog.at_level(logging.WARNING, logger="campaignkit.delivery"):
        kit.tick()
    [run] = ada.report(campaign.id).runs
    assert run.status is ck.RunStatus.FAILED
    assert any("a bug in the pipeline" in r.getMessage() for r in caplog.records)
    assert len(calls) == 2
