"""The pipeline: a run with columns records what a run with rows records, whatever the
channel answers, and the contacts of columns are those of rows."""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

import campaignkit as ck
from campaignkit import InMemoryStore
from campaignkit.delivery import decide as deciding
from campaignkit.delivery.recording import record_sends
from campaignkit.domain.delivery import (
    Accepted,
    PermanentFailure,
    TransientFailure,
)
from campaignkit.domain.ledger_rows import FreshMessages, PendingRows
from campaignkit.domain.profile import Profile
from campaignkit.testing import CallbackChannel, RecordingChannel
from campaignkit.testing.contracts._support import make_message
from tests.factories import T0
from tests.speed_h1_blocks.support import EMAIL, T, _fresh

# ------------------------------------------------------------------ the pipeline


def _people() -> list[Profile]:
    def person(i: int, **kwargs: Any) -> Profile:
        kwargs.setdefault("identities", {"email": f"u{i}@example.com"})
        kwargs.setdefault("attributes", {"firstName": f"U{i}"})
        kwargs.setdefault("consents", {EMAIL: True})
        return Profile(id=f"p{i}", **kwargs)

    return [
        person(0),
        person(1, identities={}),  # missing identity: the reference, between fast ones
        person(2, timezone="Europe/Paris"),
        person(3, attributes={}),  # missing attribute
        person(4),
        person(5, timezone="Asia/Tokyo"),
        _bent(person(6), identities=MappingProxyType({"email": ""})),  # a blank identity
    ]


def _bent(profile: Profile, **fields: object) -> Profile:
    """``profile`` with fields set past its checks (host data is not always what it says)."""
    bent = copy.copy(profile)
    for name, value in fields.items():
        object.__setattr__(bent, name, value)
    return bent


def _run(monkeypatch: pytest.MonkeyPatch, channel: ck.Channel, *, columns: bool) -> tuple[Any, ...]:
    if not columns:  # the rows as a list: the row-by-row ledger and the generic hand-over
        monkeypatch.setattr(
            deciding._Columns,
            "rows",
            lambda self, due, one: list(PendingRows(self.messages, due, self.zones)),
        )
    clock = ck.testing.ManualClock(T0)
    kit = ck.CampaignKit.in_memory(clock, channels={EMAIL: channel}, ids=ck.testing.SequentialIds())
    for profile in _people():
        kit.profiles._profiles[profile.id] = profile  # type: ignore[attr-defined]
    kit.audiences.define("all", [p.id for p in _people()])
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    email = ada.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="One",
        audience="all",
        namespace="email",
        actions=[
            ck.Action(email.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x"))
        ],
    )
    ada.activate(campaign.id)
    kit.tick()
    kit.tick()
    monkeypatch.undo()
    with kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(campaign.id)
        entries = list(uow.ledger.entries(run.id))
        contacts = uow.contacts.counts(EMAIL, [p.id for p in _people()], T0.subtract(days=1))
        held = {
            e.provider_message_id: uow.ledger.by_provider_id(e.provider_message_id)
            for e in entries
            if e.provider_message_id
        }
    return entries, dict(run.counts), run.status, contacts, held


def _answer(message: ck.Message) -> ck.SendResult:
    if message.profile_id == "p2":
        return TransientFailure("busy")
    if message.profile_id == "p4":
        return PermanentFailure("bounced")
    return Accepted(f"id-{message.profile_id}")


@pytest.mark.parametrize(
    "make",
    [
        RecordingChannel,
        lambda: CallbackChannel(_answer),
        lambda: CallbackChannel(lambda m: Accepted("same")),
    ],
    ids=["accepted", "mixed", "one-id"],
)
def test_a_run_with_columns_records_what_rows_record(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], ck.Channel]
) -> None:
    fast = _run(monkeypatch, make(), columns=True)
    rows = _run(monkeypatch, make(), columns=False)
    assert fast == rows
    entries, _, _, contacts, _ = fast
    assert {e.profile_id: e.timezone for e in entries}["p5"] == "Asia/Tokyo"
    assert {e.profile_id: e.reason for e in entries}["p6"] is ck.ExclusionReason.MISSING_IDENTITY
    assert contacts


@pytest.mark.parametrize("transactional", [False, True])
def test_contacts_of_columns_are_those_of_rows(transactional: bool) -> None:
    counted = []
    for columns in (True, False):
        store = InMemoryStore()
        messages = FreshMessages(
            make_message(p, run_id="r1", action_id="a1", transactional=transactional)
            for p in ("p0", "p1")
        )
        messages.profile_ids = ["p0", "p1"]
        rows = PendingRows(messages, T)
        with store.unit_of_work() as uow:
            record_sends(uow, rows if columns else list(rows), T)
            record_sends(uow, PendingRows(_fresh([]), T) if columns else [], T)
        with store.unit_of_work() as uow:
            counted.append(uow.contacts.counts(EMAIL, ["p0", "p1"], T.subtract(days=1)))
    assert counted[0] == counted[1] == ({} if transactional else {"p0": 1, "p1": 1})
