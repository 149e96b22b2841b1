"""Every stored type round-trips losslessly, and old documents keep loading."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit import serialization as ser
from campaignkit.testing import strategies as cks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROUND_TRIP = settings(max_examples=60, deadline=None)


@ROUND_TRIP
@given(cks.campaigns())
def test_campaigns_round_trip(campaign: ck.Campaign) -> None:
    assert ser.loads(ck.Campaign, ser.dumps(campaign)) == campaign


@ROUND_TRIP
@given(cks.surfaces())
def test_surfaces_round_trip(surface: ck.ChannelSurface) -> None:
    assert ser.loads(ck.ChannelSurface, ser.dumps(surface)) == surface


@ROUND_TRIP
@given(cks.approval_policies())
def test_approval_policies_round_trip(policy: ck.ApprovalPolicy) -> None:
    assert ser.loads(ck.ApprovalPolicy, ser.dumps(policy)) == policy


@ROUND_TRIP
@given(cks.access_entries())
def test_access_entries_round_trip(entry: ck.AccessAuditEntry) -> None:
    assert ser.loads(ck.AccessAuditEntry, ser.dumps(entry)) == entry


@ROUND_TRIP
@given(cks.profiles())
def test_profiles_round_trip(profile: ck.Profile) -> None:
    assert ser.loads(ck.Profile, ser.dumps(profile)) == profile


@given(cks.campaigns())
@settings(max_examples=20, deadline=None)
def test_documents_are_plain_json_with_a_versioned_envelope(campaign: ck.Campaign) -> None:
    document = json.loads(ser.dumps(campaign))
    assert document["schema"] == "campaign"
    assert document["version"] == ser.SCHEMAS[ck.Campaign][1]
    assert document["data"]["id"] == campaign.id


def test_a_version_1_campaign_document_loads_under_the_current_version() -> None:
    """A campaign written by the foundation release (schema v1) is upcast."""
    text = (FIXTURES / "campaign_v1.json").read_text(encoding="utf-8")
    assert json.loads(text)["version"] == 1
    campaign = ser.loads(ck.Campaign, text)
    assert campaign.status is ck.CampaignStatus.LIVE
    assert campaign.review is None
    assert campaign.approvals == ()
    assert not campaign.draft_in_review
    assert campaign.live_version is not None
    assert campaign.live_version.schedule.timezone == "Europe/Paris"
    assert [e.action for e in campaign.history] == [
        ck.Verb.CREATE,
        ck.Verb.ACTIVATE,
        ck.Verb.PREPARE,
    ]
    again = ser.loads(ck.Campaign, ser.dumps(campaign))
    assert again == campaign
    assert json.loads(ser.dumps(campaign))["version"] == 2


def _envelope(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (FIXTURES / "campaign_v1.json").read_text(encoding="utf-8")
    )
    document.update(overrides)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_envelope(version=99), "newer campaignkit"),
        (_envelope(schema="surface"), "expected a 'campaign' document"),
        (_envelope(version=0), "invalid version"),
        ({"schema": "campaign", "version": 2}, "not a campaignkit document"),
        ([1, 2], "not a campaignkit document"),
        (_envelope(data={"id": "x"}), "is invalid"),
    ],
)
def test_bad_documents_raise_storage_errors(document: object, message: str) -> None:
    with pytest.raises(ck.StorageError, match=message):
        ser.from_document(ck.Campaign, document)


def test_text_that_is_not_json_is_a_storage_error() -> None:
    with pytest.raises(ck.StorageError, match="not valid JSON"):
        ser.loads(ck.Campaign, "{nope")


def test_only_stored_types_have_a_schema() -> None:
    with pytest.raises(TypeError, match="not a stored campaignkit type"):
        ser.to_document(object())


def test_a_missing_upcaster_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ser, "UPCASTERS", {})
    with pytest.raises(ck.StorageError, match="no upcaster from campaign version 1"):
        ser.loads(ck.Campaign, (FIXTURES / "campaign_v1.json").read_text(encoding="utf-8"))


@given(st.text())
def test_loads_never_raises_anything_but_storage_errors(text: str) -> None:
    with contextlib.suppress(ck.StorageError):
        ser.loads(ck.Campaign, text)
