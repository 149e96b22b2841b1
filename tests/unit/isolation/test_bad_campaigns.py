"""One bad campaign (a lifecycle step that raises, a conflict, a document that cannot be loaded
or does not hold together) never stops the others, and channels answering badly never make a
message sent twice or leave an entry without an outcome."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

import campaignkit as ck
from campaignkit.delivery.runner import Runner
from campaignkit.engine import LifecycleEngine
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.factories import person
from tests.unit.isolation.support import EMAIL, T0, HostAudiences

# ---------------------------------------------------------------- one bad campaign


def test_a_lifecycle_step_that_raises_is_set_aside_and_the_others_progress(
    make_env: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(audiences=HostAudiences({"crowd": [person("a")]}))  # type: ignore[operator]
    campaigns = [env.campaign(f"C{i}", "crowd") for i in range(10)]
    bad = campaigns[3]
    original = LifecycleEngine._due_command
    calls: list[str] = []

    def failing(
        self: LifecycleEngine, uow: object, campaign: ck.Campaign, due_at: object
    ) -> object:
        if campaign.id == bad.id:
            calls.append(campaign.id)
            raise RuntimeError("a bug in one step")
        return original(self, uow, campaign, due_at)  # type: ignore[arg-type]

    monkeypatch.setattr(LifecycleEngine, "_due_command", failing)
    for campaign in campaigns:
        env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
        env.kit.tick()  # a later tick at the same instant: no retry, no starvation
        env.kit.run_until(T0.add(hours=1))  # terminates: the bad item is not due work

    statuses = {c.id: env.admin.get(c.id).status for c in campaigns}
    assert statuses.pop(bad.id) is ck.CampaignStatus.ACTIVATING
    assert set(statuses.values()) == {ck.CampaignStatus.LIVE}
    assert all(env.admin.report(cid).sent == 1 for cid in statuses)
    assert calls == [bad.id]  # tried once, then set aside
    assert any(
        bad.id in r.getMessage() and "a bug in one step" in r.getMessage() for r in caplog.records
    )

    # once its due time changes (here: re-indexed by hand), it is tried again
    monkeypatch.setattr(LifecycleEngine, "_due_command", original)
    with env.kit.store.unit_of_work() as uow:
        stored = uow.campaigns.get(bad.id)
        uow.campaigns.save(attrs.evolve(stored, due_at=env.clock.now().add(minutes=1)))
    env.clock.set(env.clock.now().add(minutes=1))
    env.kit.tick()
    assert env.admin.get(bad.id).status is ck.CampaignStatus.LIVE
    assert env.admin.report(bad.id).sent == 1


def test_a_conflict_when_claiming_or_delivering_skips_the_run_for_this_tick(
    make_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(audiences=HostAudiences({"crowd": [person("a")]}))  # type: ignore[operator]
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)

    def conflict(*args: object, **kwargs: object) -> object:
        raise ck.ConflictError("another worker wrote the run")

    for method in ("_claim", "_deliver_run"):
        with monkeypatch.context() as patch:
            patch.setattr(Runner, method, conflict)
            env.kit.tick()  # the conflict does not escape, and the tick ends
        run = env.run_of(campaign.id)
        assert run.status is not ck.RunStatus.SUCCEEDED
        assert run.lease_owner is None  # handed back, not held for a lease
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 1


def _corrupt(path: Path, campaign_id: str) -> None:
    """Overwrite a campaign's stored document with text that is not JSON."""
    with sqlite3.connect(path, timeout=10) as connection:
        connection.execute(
            "UPDATE campaigns SET document = ? WHERE id = ?", ("{not json", campaign_id)
        )
    connection.close()


def test_an_unloadable_campaign_among_ten_lets_the_nine_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        kit.profiles.upsert(person("a"))
        kit.audiences.define("crowd", ["a"])
        ids = []
        for number in range(10):
            campaign = admin.create_campaign(
                name=f"C{number}",
                audience="crowd",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
                schedule=ck.Schedule(start=T0.add(hours=1)),
            )
            admin.activate(campaign.id)
            ids.append(campaign.id)
        kit.tick()  # all ten SCHEDULED
        _corrupt(path, ids[4])
        with caplog.at_level(logging.WARNING, logger="campaignkit"):
            report = kit.run_until(T0.add(hours=2))
        assert report.next_due_at is not None  # the nine complete three days later
        for campaign_id in ids[:4] + ids[5:]:
            assert admin.report(campaign_id).sent == 1
        assert any(ids[4] in r.getMessage() for r in caplog.records)
        assert len(kit.channels[EMAIL].sent) == 9


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        # cattrs alone read the text as tags ("z", "z", "z"): saving them broke a UNIQUE index
        ("tags", "zzz", "expected tuple @ $.tags"),
        # an ACTIVATING campaign without a version: its due step failed an assert
        ("live_version", None, "cannot be brought up to date: its due step raised"),
    ],
)
def test_a_document_that_loads_but_does_not_hold_together_is_a_storage_error(
    tmp_path: Path, field: str, value: object, problem: str
) -> None:
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        kit.audiences.define("crowd", ["a"])
        campaign = admin.create_campaign(
            name="C",
            audience="crowd",
            namespace="email",
            tags=["t"],
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
        )
        admin.activate(campaign.id)  # ACTIVATING: its prepare step is due
    with sqlite3.connect(path, timeout=10) as connection:
        (text,) = connection.execute(
            "SELECT document FROM campaigns WHERE id = ?", (campaign.id,)
        ).fetchone()
        document = json.loads(text)
        document["data"][field] = value
        connection.execute(
            "UPDATE campaigns SET document = ? WHERE id = ?", (json.dumps(document), campaign.id)
        )
    connection.close()
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        admin = kit.as_user("ada")
        for verb in (admin.delete, admin.stop):
            with pytest.raises(ck.StorageError, match=re.escape(problem)):
                verb(campaign.id)
        kit.tick()  # set aside with a warning, never raised
        with sqlite3.connect(path, timeout=10) as connection:
            (after,) = connection.execute(
                "SELECT document FROM campaigns WHERE id = ?", (campaign.id,)
            ).fetchone()
        connection.close()
        assert json.loads(after) == document  # nothing was written


def test_a_run_whose_campaign_became_unloadable_fails_with_the_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mid-tick, one campaign's document is corrupted: its run FAILS, the others deliver."""
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    ids: list[str] = []

    def corrupting(message: ck.Message) -> ck.SendResult:
        if message.campaign_id == ids[0]:
            _corrupt(path, ids[-1])
        return ck.Accepted(f"mail-{message.idempotency_key}")

    with ck.CampaignKit.sqlite(
        path, clock=clock, ids=SequentialIds(), channels={EMAIL: CallbackChannel(corrupting)}
    ) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        kit.profiles.upsert(person("a"))
        kit.audiences.define("crowd", ["a"])
        for number in range(3):
            campaign = admin.create_campaign(
                name=f"C{number}",
                audience="crowd",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
            )
            admin.activate(campaign.id)
            ids.append(campaign.id)
        with caplog.at_level(logging.WARNING, logger="campaignkit"):
            kit.tick()
        with kit.store.unit_of_work() as uow:
            runs = {cid: uow.runs.for_campaign(cid)[0] for cid in ids}
        assert [runs[cid].status for cid in ids] == [
            ck.RunStatus.SUCCEEDED,
            ck.RunStatus.SUCCEEDED,
            ck.RunStatus.FAILED,
        ]
        error = runs[ids[-1]].error
        assert error is not None
        assert "StorageError" in error
        assert "could not be updated" in error  # its campaign could not be told
        assert any(runs[ids[-1]].id in r.getMessage() for r in caplog.records)
        with kit.store.unit_of_work() as uow:
            assert uow.runs.next_due_at() is None  # the failed run is not retried


def test_a_channel_reusing_provider_ids_sends_each_message_once(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider answering one id per batch (or reusing ids) must not make a run spin.

    The ledger refuses a provider id another message holds; the messages were
    accepted all the same, so they are SENT without that id, with a WARNING,
    and never handed over again.
    """
    calls: list[str] = []

    def one_id_per_batch(message: ck.Message) -> ck.SendResult:
        calls.append(message.idempotency_key)
        return ck.Accepted("batch-1")

    env = make_env(channel=CallbackChannel(one_id_per_batch))  # type: ignore[operator]
    for pid in ("a", "b", "c"):
        env.kit.profiles.upsert(person(pid))
    env.kit.audiences.define("crowd", ["a", "b", "c"])
    first = env.campaign("First", "crowd")
    second = env.campaign("Second", "crowd")
    env.admin.activate(first.id)
    env.admin.activate(second.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.run_until(env.clock.now().add(days=4))

    assert len(calls) == len(set(calls)) == 6  # each message handed over exactly once
    for campaign in (first, second):
        run = env.run_of(campaign.id)
        assert run.status is ck.RunStatus.SUCCEEDED
        entries = env.entries(run.id)
        assert {e.state for e in entries} == {ck.LedgerState.SENT}
    holders = [
        e
        for c in (first, second)
        for e in env.entries(env.run_of(c.id).id)
        if e.provider_message_id == "batch-1"
    ]
    assert len(holders) == 1  # the id stays unique; feedback finds exactly one message
    assert any("provider message id" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("answer", [None, "ok", 200], ids=["none", "str", "int"])
def test_a_channel_answering_no_send_result_leaves_no_entry_without_an_outcome(
    make_env: object, answer: object
) -> None:
    """A result that is not a SendResult is a failed hand-over: retried, then FAILED."""

    class Garbage:
        def send(self, messages: Sequence[ck.Message]) -> list[object]:
            return [answer for _ in messages]

    env = make_env(channel=Garbage())  # type: ignore[operator]
    for pid in ("a", "b"):
        env.kit.profiles.upsert(person(pid))
    env.kit.audiences.define("crowd", ["a", "b"])
    campaign = env.campaign("C", "crowd")
    env.admin.activate(campaign.id)
    env.kit.run_until(env.clock.now().add(days=4))

    run = env.run_of(campaign.id)
    assert run.status.is_final
    entries = env.entries(run.id)
    assert [e.state for e in entries] == [ck.LedgerState.FAILED] * 2
    assert all("not Accepted" in (e.error or "") for e in entries)
    report = env.admin.report(campaign.id)
    assert (report.counts.failed, report.counts.pending) == (2, 0)
